package gateway

import (
	"context"

	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/challenge"
)

// resealer seals every stored secret again with the current encryption key.
type resealer interface {
	Reseal(ctx context.Context) (challenge.ResealReport, error)
}

var _ resealer = (*challenge.Service)(nil)

// Reseal seals every sealed secret in the store (authenticator secrets and phone
// numbers) again with the current encryption key, for the operators' command line
// after an encryption key rotation; see challenge.Service.Reseal. The outcome goes to
// the audit log, with key IDs and counts only.
func (a *Admin) Reseal(ctx context.Context) (challenge.ResealReport, error) {
	r, ok := a.factors.(resealer)
	if !ok {
		return challenge.ResealReport{}, challenge.ErrCannotReseal
	}
	rep, err := r.Reseal(ctx)
	a.audit.log.Info("reseal", zap.String("key_id", rep.KeyID), zap.Int("records", rep.Records),
		zap.Int("resealed", rep.ResealedCount()), zap.Int("current", rep.Current), zap.Int("unopenable", rep.UnopenableCount()),
		zap.Int("damaged", rep.Damaged), zap.Error(err))
	return rep, err
}
