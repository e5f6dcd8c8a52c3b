package challenge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/caddy-stepup/stepup/store"
)

// Re-sealing: after the encryption key changes (the new key first, the old one after
// it), every sealed value still opens, and each is sealed again with the new key the
// next time it is used (resealUser), or all at once by Reseal, run from the command
// line. Only then can the old key go.

// sealedField is a sealed value inside a user's factors record: the record's field
// (an object), the field in it that holds the sealed bytes, and the record name the
// value is bound to. A factor that keeps something sealed adds its field here.
type sealedField struct {
	object, field string
	boundTo       func(user string) string
}

var sealedFields = []sealedField{
	{"totp", "sealed_secret", totpBoundTo},
	{"phone", "sealed_number", phoneBoundTo},
	{"recovery", "sealed_hashes", recoveryBoundTo},
}

// resealTally counts the sealed values of one record.
type resealTally struct {
	current    int
	resealed   map[string]int // by the key they were sealed with
	unopenable map[string]int // by the key they were sealed with
}

// resealFactors returns the factors record raw of user with every sealed value that is
// not sealed with the current key sealed again with it. Everything else in the record
// stays as it was, including fields this version does not know. out is nil when
// nothing changed.
func (s *Service) resealFactors(user string, raw []byte) (out []byte, tally resealTally, err error) {
	var rec map[string]json.RawMessage
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, tally, fmt.Errorf("challenge: factors record is damaged: %w", err)
	}
	changed := false
	for _, f := range sealedFields {
		objRaw, ok := rec[f.object]
		if !ok || bytes.Equal(objRaw, []byte("null")) {
			continue
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(objRaw, &obj); err != nil {
			return nil, tally, fmt.Errorf("challenge: factors record is damaged: %w", err)
		}
		var sealed []byte
		if err := json.Unmarshal(obj[f.field], &sealed); err != nil {
			return nil, tally, fmt.Errorf("challenge: factors record is damaged: %w", err)
		}
		if s.Sealer.Current(sealed) {
			tally.current++
			continue
		}
		from := SealedWith(sealed)
		next, _, err := s.Sealer.Reseal(sealed, f.boundTo(user))
		if err != nil {
			tally.unopenable = addCount(tally.unopenable, from)
			continue
		}
		tally.resealed = addCount(tally.resealed, from)
		if obj[f.field], err = json.Marshal(next); err != nil {
			return nil, tally, err
		}
		if rec[f.object], err = json.Marshal(obj); err != nil {
			return nil, tally, err
		}
		changed = true
	}
	if !changed {
		return nil, tally, nil
	}
	out, err = json.Marshal(rec)
	return out, tally, err
}

func addCount(m map[string]int, k string) map[string]int {
	if m == nil {
		m = map[string]int{}
	}
	m[k]++
	return m
}

// resealUser seals the user's factors again with the current key, after one of them
// was opened with a previous key or in the first format. It is best effort: the user's
// request goes on whatever happens here, and a record changed in between is left for
// its next use or for Reseal. The outcome goes to Resealed.
func (s *Service) resealUser(ctx context.Context, user string) {
	err := s.resealRecord(ctx, user)
	if s.Resealed != nil {
		s.Resealed(user, err)
	}
}

func (s *Service) resealRecord(ctx context.Context, user string) error {
	sw, ok := s.Store.(store.Swapper)
	if !ok {
		return errors.New("challenge: the store cannot swap records: run the reseal command")
	}
	key := store.UserKey(user, factorsName)
	raw, err := s.Store.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil // unbound meanwhile
	}
	if err != nil {
		return fmt.Errorf("challenge: reading factors to reseal: %w", err)
	}
	out, tally, err := s.resealFactors(user, raw)
	if err != nil || out == nil {
		if err == nil && len(tally.unopenable) > 0 {
			err = fmt.Errorf("challenge: %d sealed values of the factors record open with no configured key", len(tally.unopenable))
		}
		return err
	}
	swapped, err := sw.Swap(ctx, key, raw, out)
	if err != nil {
		return fmt.Errorf("challenge: writing resealed factors: %w", err)
	}
	if !swapped {
		return errors.New("challenge: the factors changed while they were resealed; left for their next use")
	}
	return nil
}

// ResealReport is what Reseal did.
type ResealReport struct {
	// KeyID is the current encryption key's ID: every value it resealed is sealed
	// with this key.
	KeyID string `json:"key_id"`

	// Records is how many records were looked at: users' factors and pending
	// bindings.
	Records int `json:"records"`

	// Current counts the sealed values that were sealed with the current key already.
	Current int `json:"current"`

	// Resealed counts the values sealed again with the current key, by the key they
	// were sealed with ("v1" for values of the first format, which named no key).
	Resealed map[string]int `json:"resealed"`

	// Unopenable counts the values no configured key opens, by the key that sealed
	// them: that key must be configured (after the current one) for them to open.
	Unopenable map[string]int `json:"unopenable"`

	// Retried counts the records the gateway changed while Reseal worked on them,
	// which were then read again (or found gone).
	Retried int `json:"retried"`

	// Damaged counts the records that could not be read as factors; they are left
	// as they are.
	Damaged int `json:"damaged"`
}

// ResealedCount is the number of values Reseal sealed again.
func (r ResealReport) ResealedCount() int { return sumCounts(r.Resealed) }

// UnopenableCount is the number of values no configured key opened.
func (r ResealReport) UnopenableCount() int { return sumCounts(r.Unopenable) }

func sumCounts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func (r *ResealReport) add(t resealTally) {
	r.Current += t.current
	for k, v := range t.resealed {
		r.Resealed[k] += v
	}
	for k, v := range t.unopenable {
		r.Unopenable[k] += v
	}
}

// ErrCannotReseal is returned by Reseal when the store cannot be scanned or its records
// swapped.
var ErrCannotReseal = errors.New("challenge: this store cannot be walked to reseal its records")

// resealTries bounds how often one record is read again when the gateway keeps
// changing it while Reseal works on it.
const resealTries = 5

// Reseal seals every sealed value in the store again with the current encryption key:
// the authenticator secrets and phone numbers of every user, and the secrets and
// numbers of bindings under way. It is safe while gateways serve (each record is
// replaced only if it still holds what was read, else read again), idempotent (a
// value sealed with the current key is left alone), and it goes on past values that
// no configured key opens, counting them. Once it reports none resealed and none
// unopenable, and every gateway has the current key first, previous encryption keys
// can be dropped.
func (s *Service) Reseal(ctx context.Context) (ResealReport, error) {
	rep := ResealReport{KeyID: s.Sealer.KeyIDs()[0], Resealed: map[string]int{}, Unopenable: map[string]int{}}
	sc, ok := s.Store.(store.Scanner)
	sw, ok2 := s.Store.(store.Swapper)
	if !ok || !ok2 {
		return rep, ErrCannotReseal
	}
	err := sc.Scan(ctx, "u:", factorsName, func(k store.Key) error {
		rep.Records++
		user := strings.TrimPrefix(k.Scope, "u:")
		return s.resealOne(ctx, sw, k, &rep, func(raw []byte) ([]byte, resealTally, error) {
			return s.resealFactors(user, raw)
		})
	})
	if err != nil {
		return rep, err
	}
	for _, name := range []string{pendingTOTPName, pendingPhoneName} {
		boundTo := pendingBoundTo
		if name == pendingPhoneName {
			boundTo = pendingPhoneBoundTo
		}
		err := sc.Scan(ctx, "c:", name, func(k store.Key) error {
			c, err := s.challengeOf(ctx, strings.TrimPrefix(k.Scope, "c:"))
			if err != nil || c.ID == "" {
				return err // a pending value without its challenge is used no more
			}
			rep.Records++
			return s.resealOne(ctx, sw, k, &rep, func(raw []byte) ([]byte, resealTally, error) {
				return s.resealValue(raw, boundTo(c))
			})
		})
		if err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// resealOne reseals the record at k with reseal, replacing it only if it still holds
// what was read, and reading it again when it does not.
func (s *Service) resealOne(ctx context.Context, sw store.Swapper, k store.Key, rep *ResealReport,
	reseal func(raw []byte) ([]byte, resealTally, error)) error {
	for try := 0; try < resealTries; try++ {
		if try > 0 {
			rep.Retried++
		}
		raw, err := s.Store.Get(ctx, k)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("challenge: reading a record to reseal: %w", err)
		}
		out, tally, err := reseal(raw)
		if err != nil {
			rep.Damaged++
			return nil
		}
		if out == nil {
			rep.add(tally)
			return nil
		}
		swapped, err := sw.Swap(ctx, k, raw, out)
		if err != nil {
			return fmt.Errorf("challenge: writing a resealed record: %w", err)
		}
		if swapped {
			rep.add(tally)
			return nil
		}
	}
	return fmt.Errorf("challenge: a record kept changing while it was resealed (%d tries)", resealTries)
}

// resealValue reseals a record that is a sealed value itself (a pending binding's).
func (s *Service) resealValue(raw []byte, boundTo string) ([]byte, resealTally, error) {
	var t resealTally
	if s.Sealer.Current(raw) {
		t.current = 1
		return nil, t, nil
	}
	from := SealedWith(raw)
	out, _, err := s.Sealer.Reseal(raw, boundTo)
	if err != nil {
		t.unopenable = addCount(nil, from)
		return nil, t, nil
	}
	t.resealed = addCount(nil, from)
	return out, t, nil
}

// challengeOf reads challenge id whatever its binding, for Reseal; the zero Challenge
// when it is gone.
func (s *Service) challengeOf(ctx context.Context, id string) (Challenge, error) {
	b, err := s.Store.Get(ctx, store.ChallengeKey(id, challengeName))
	if errors.Is(err, store.ErrNotFound) {
		return Challenge{}, nil
	}
	if err != nil {
		return Challenge{}, fmt.Errorf("challenge: reading challenge: %w", err)
	}
	var r challengeRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return Challenge{}, fmt.Errorf("challenge: challenge record is damaged: %w", err)
	}
	return r.Challenge, nil
}
