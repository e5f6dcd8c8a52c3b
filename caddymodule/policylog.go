package caddymodule

import (
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-stepup/stepup/policy"
)

// logPolicy writes, once at load, what the configuration means: who needs a second
// factor for what, on which routes and by which methods, so that a config that
// protects less than its author thought shows in the log.
func (h *Handler) logPolicy() {
	e := h.enforce
	fields := []zap.Field{
		zap.String("operation_protection", audienceText(e.OperationAll, e.OperationUsers)),
		zap.String("login_protection", audienceText(e.LoginAll, e.LoginUsers)),
		zap.Any("methods", e.Methods),
		zap.String("who_signs_in", h.userSource()),
		zap.Array("protect", ruleList(h.rules)),
	}
	h.logger.Info("effective two-factor policy", fields...)
	if !e.OperationAll && len(e.OperationUsers) == 0 && len(h.rules) > 0 {
		h.logger.Warn("operation protection is off for everyone (enforce operation none): the protect rules ask nobody for a second factor")
	}
}

func audienceText(all bool, users []string) string {
	switch {
	case all:
		return "everyone"
	case len(users) == 0:
		return "nobody"
	}
	return strings.Join(users, " ")
}

// userSource says where the gateway learns who signs in.
func (h *Handler) userSource() string {
	switch {
	case h.Identity.Source == "header":
		return "request header " + h.Identity.Header + " (set by the auth layer in front)"
	case h.Login == nil:
		return "nobody: no login route"
	case h.Login.WhoAmI != nil:
		return "the console's whoami " + h.Login.WhoAmI.URI
	case h.Login.UserHeader != "":
		return "the console's response header " + h.Login.UserHeader
	}
	return "the login request's " + h.Login.UserField + " field"
}

type ruleList policy.Rules

func (rs ruleList) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	for _, r := range rs {
		if err := enc.AppendObject(ruleLog(r)); err != nil {
			return err
		}
	}
	return nil
}

type ruleLog policy.OperationRule

func (r ruleLog) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("name", r.Name)
	enc.AddString("paths", strings.Join(r.Paths, " "))
	methods := "every method"
	if len(r.Methods) > 0 {
		methods = strings.Join(policy.OperationRule(r).EffectiveMethods(), " ") + " (and any request naming them through a method override)"
	}
	enc.AddString("methods", methods)
	enc.AddString("max_age", r.MaxAge.Round(time.Second).String())
	return nil
}
