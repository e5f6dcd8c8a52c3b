package caddymodule

import (
	"slices"
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
	st := h.settings
	fields := []zap.Field{zap.Any("methods", st.Methods)}
	for _, k := range policy.Kinds {
		d := st.Default(k, policy.RoleUser)
		fields = append(fields,
			zap.String(string(k)+"_protection_default", onOff(d.On)),
			zap.String(string(k)+"_protection_required_for", audienceText(st.Mandates[k])))
	}
	fields = append(fields,
		zap.Strings("root", st.Roles.Root), zap.Strings("admins", st.Roles.Admins),
		zap.String("who_signs_in", h.userSource()),
		zap.Array("protect", ruleList(h.rules)))
	h.logger.Info("effective two-factor policy", fields...)
	if len(st.Roles.Root) > 0 && !slices.Contains(st.Methods, policy.SMS) {
		h.logger.Warn("root's operation protection starts with SMS, but SMS is not enabled here: root falls back to the authenticator app",
			zap.Strings("root", st.Roles.Root), zap.String("hint", "configure an sms provider to give root SMS first"))
	}
	if !st.Default(policy.Operation, policy.RoleUser).On && st.Mandates[policy.Operation].Empty() && len(h.rules) > 0 {
		h.logger.Warn("operation protection is off by default and required for nobody: users turn it on themselves on the settings page (root's is on by default)")
	}
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

func audienceText(a policy.Audience) string {
	if a.All {
		return "everyone"
	}
	var parts []string
	if a.Admins {
		parts = append(parts, "root and administrators")
	} else if a.Root {
		parts = append(parts, "root")
	}
	parts = append(parts, a.Users...)
	if len(parts) == 0 {
		return "nobody"
	}
	return strings.Join(parts, " ")
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
