package challenge

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/store"
)

// Recovery codes let a user who lost their device pass a challenge: ten single-use
// codes of 60 random bits each, shown once, kept only as salted SHA-256 hashes, and
// those sealed with the encryption key bound to the user's record: a copy of the store
// alone gives nothing to guess against offline, and a key rotation reseals them like
// any secret (the hashes need no code to be sealed again). A code passes a challenge
// in place of the methods on offer and counts toward the same attempt limits and lock
// as any code. Using one is single-use atomically: a mark per code, written with
// PutNew, so of two requests with the same code one passes.

// RecoveryCodeCount is how many codes a set holds.
const RecoveryCodeCount = 10

// recoveryAlphabet is Crockford's base32, lower case: no i, l, o or u to misread.
const recoveryAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// recoveryCodeLen is a code's length in characters: 12 × 5 = 60 bits.
const recoveryCodeLen = 12

// recoveryUsedName is the store name of the mark of a used code.
const recoveryUsedName = "recovery-used:"

// RecoveryCodes is a user's set of recovery codes, as stored.
type RecoveryCodes struct {
	// Set names this set; a new set ends the old one.
	Set string `json:"set"`

	// Created is when the set was made.
	Created time.Time `json:"created"`

	// Count is how many codes the set has.
	Count int `json:"count"`

	// SealedHashes are the codes' salted hashes (each 16 bytes of salt, then
	// SHA-256(salt || code)), as JSON, sealed by the Service's Sealer for
	// "recovery:"+user.
	SealedHashes []byte `json:"sealed_hashes"`

	// Used counts the codes used, and LastUsed is when the last was; for the pages
	// (the marks in the store are what make a code single-use).
	Used     int       `json:"used,omitempty"`
	LastUsed time.Time `json:"last_used,omitzero"`
}

// Left is how many codes of the set are unused.
func (r *RecoveryCodes) Left() int {
	if r == nil {
		return 0
	}
	return max(r.Count-r.Used, 0)
}

// CreateRecoveryCodes makes a new set of recovery codes for user, replacing (and so
// ending) any earlier set, and returns the codes, formatted "xxxx-xxxx-xxxx", to be
// shown once. The user must have a second factor bound (ErrNotBound otherwise); the
// caller asks policy first (DecideRecoveryCodes).
func (s *Service) CreateRecoveryCodes(ctx context.Context, user string) ([]string, error) {
	f, err := loadFactors(ctx, s.Store, user)
	if err != nil {
		return nil, err
	}
	if len(f.Bound()) == 0 {
		return nil, ErrNotBound
	}
	set, err := randomToken(s.Rand, 12)
	if err != nil {
		return nil, err
	}
	rc := &RecoveryCodes{Set: set, Created: s.Now().UTC(), Count: RecoveryCodeCount}
	var hashes [][]byte
	codes := make([]string, RecoveryCodeCount)
	for i := range codes {
		code, err := newRecoveryCode(s.Rand)
		if err != nil {
			return nil, err
		}
		salt := make([]byte, 16)
		if _, err := io.ReadFull(s.Rand, salt); err != nil {
			return nil, fmt.Errorf("challenge: reading random salt: %w", err)
		}
		hashes = append(hashes, append(salt, recoveryHash(salt, code)...))
		codes[i] = code[:4] + "-" + code[4:8] + "-" + code[8:]
	}
	plain, err := json.Marshal(hashes)
	if err != nil {
		return nil, err
	}
	if rc.SealedHashes, err = s.Sealer.Seal(plain, recoveryBoundTo(user)); err != nil {
		return nil, err
	}
	old := f.Recovery
	f.Recovery = rc
	if err := saveFactors(ctx, s.Store, user, f); err != nil {
		return nil, err
	}
	s.dropRecoveryMarks(ctx, user, old)
	return codes, nil
}

// RevokeRecoveryCodes ends user's recovery codes (an administrator's or the operator's
// command line's action; the caller audits it).
func (s *Service) RevokeRecoveryCodes(ctx context.Context, user string) error {
	f, err := loadFactors(ctx, s.Store, user)
	if err != nil {
		return err
	}
	if f.Recovery == nil {
		return nil
	}
	old := f.Recovery
	f.Recovery = nil
	if err := saveFactors(ctx, s.Store, user, f); err != nil {
		return err
	}
	s.dropRecoveryMarks(ctx, user, old)
	return nil
}

// dropRecoveryMarks removes the used marks of a set that has ended; a mark left
// behind names a set no record holds, so it is only clutter.
func (s *Service) dropRecoveryMarks(ctx context.Context, user string, rc *RecoveryCodes) {
	if rc == nil {
		return
	}
	keys := make([]store.Key, rc.Count)
	for i := range keys {
		keys[i] = recoveryMark(user, rc.Set, i)
	}
	_ = s.Store.Delete(ctx, keys...)
}

// VerifyRecovery answers challenge id with one of the user's recovery codes. It is
// offered on every challenge but one that binds a factor (policy.PurposeBind: the user
// has just passed a factor) or one marked NoRecovery. The errors are VerifyTOTP's, with ErrNotBound when the
// user has no unused recovery code; a code used already is a wrong code (Reused).
func (s *Service) VerifyRecovery(ctx context.Context, id, binding, code, clientIP string) (Passed, error) {
	var set *RecoveryCodes
	p, err := s.answer(ctx, id, binding, policy.Recovery, clientIP, func(c Challenge, f Factors, now time.Time) (codeCheck, error) {
		if c.Purpose == policy.PurposeBind || c.NoRecovery {
			return nil, ErrNotOffered
		}
		if f.Recovery.Left() == 0 {
			return nil, ErrNotBound
		}
		set = f.Recovery
		hashes, err := s.recoveryHashes(ctx, c.User, f.Recovery)
		if err != nil {
			return nil, err
		}
		return func() (bool, bool, error) {
			i, ok := matchRecovery(hashes, code)
			if !ok {
				return false, false, nil
			}
			fresh, err := s.Store.PutNew(ctx, recoveryMark(c.User, f.Recovery.Set, i), []byte(now.UTC().Format(time.RFC3339)), 0)
			if err != nil {
				return false, false, fmt.Errorf("challenge: marking the recovery code used: %w", err)
			}
			return fresh, !fresh, nil
		}, nil
	})
	if err != nil {
		return p, err
	}
	s.countRecoveryUse(ctx, p.Challenge.User, set.Set, p.AuthTime.UTC())
	return p, nil
}

// countRecoveryUse counts a used code in the user's record, for the pages (the mark
// made the code single-use already, so a failed count is not the user's failure). It
// changes the record only if nothing else did meanwhile: a plain write of the record
// read before could undo an administrator's reset made in between.
func (s *Service) countRecoveryUse(ctx context.Context, user, set string, at time.Time) {
	sw, ok := s.Store.(store.Swapper)
	if !ok {
		return
	}
	key := store.UserKey(user, factorsName)
	for range 3 {
		raw, err := s.Store.Get(ctx, key)
		if err != nil {
			return
		}
		var f Factors
		if json.Unmarshal(raw, &f) != nil || f.Recovery == nil || f.Recovery.Set != set {
			return
		}
		f.Recovery.Used++
		f.Recovery.LastUsed = at
		next, err := json.Marshal(f)
		if err != nil {
			return
		}
		if swapped, err := sw.Swap(ctx, key, raw, next); err != nil || swapped {
			return
		}
	}
}

// matchRecovery returns the index of the code in the set, comparing every hash in
// constant time.
func matchRecovery(hashes [][]byte, typed string) (int, bool) {
	code := normalizeRecovery(typed)
	if len(code) != recoveryCodeLen {
		return 0, false
	}
	found, index := 0, 0
	for i, h := range hashes {
		if len(h) != 16+sha256.Size {
			continue
		}
		eq := subtle.ConstantTimeCompare(h[16:], recoveryHash(h[:16], code))
		index = subtle.ConstantTimeSelect(eq, i, index)
		found |= eq
	}
	return index, found == 1
}

// normalizeRecovery reads a code as people type it: any case, with spaces or dashes,
// and the letters Crockford's base32 leaves out read as the digits they look like.
func normalizeRecovery(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch r {
		case ' ', '-', '\t', '\u00a0':
			continue
		case 'o':
			r = '0'
		case 'i', 'l':
			r = '1'
		}
		if !strings.ContainsRune(recoveryAlphabet, r) {
			return "" // not a code
		}
		b.WriteRune(r)
	}
	return b.String()
}

// recoveryBoundTo is the record a user's sealed recovery hashes are bound to.
func recoveryBoundTo(user string) string { return "recovery:" + user }

// recoveryHashes opens the set's hashes; a set sealed with a previous key is sealed
// again with the current one (best effort, as a TOTP secret's).
func (s *Service) recoveryHashes(ctx context.Context, user string, rc *RecoveryCodes) ([][]byte, error) {
	plain, err := s.Sealer.Open(rc.SealedHashes, recoveryBoundTo(user))
	if err != nil {
		return nil, fmt.Errorf("challenge: opening the recovery codes: %w", err)
	}
	var hashes [][]byte
	if err := json.Unmarshal(plain, &hashes); err != nil {
		return nil, fmt.Errorf("challenge: the recovery codes record is damaged: %w", err)
	}
	if !s.Sealer.Current(rc.SealedHashes) {
		s.resealUser(ctx, user)
	}
	return hashes, nil
}

func recoveryHash(salt []byte, code string) []byte {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(code))
	return h.Sum(nil)
}

func recoveryMark(user, set string, i int) store.Key {
	return store.UserKey(user, fmt.Sprintf("%s%s:%d", recoveryUsedName, set, i))
}

// newRecoveryCode returns recoveryCodeLen characters of recoveryAlphabet, uniformly.
func newRecoveryCode(r io.Reader) (string, error) {
	b := make([]byte, recoveryCodeLen)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("challenge: reading a random recovery code: %w", err)
	}
	for i := range b {
		b[i] = recoveryAlphabet[b[i]&31] // 256 is a multiple of 32: uniform
	}
	return string(b), nil
}

// randomToken is n random bytes, base64url.
func randomToken(r io.Reader, n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("challenge: reading random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// recoveryShownName is the store name of a new set's codes, sealed, waiting to be
// shown once.
const recoveryShownName = "recovery-shown:"

// recoveryShownLife is how long new codes wait for their page.
const recoveryShownLife = 5 * time.Minute

// HoldForShowing keeps new codes, sealed, for the one page that shows them, and
// returns the id that page takes them by. (The pages answer forms with a redirect, so
// the codes cross it this way, never in a URL or a cookie.)
func (s *Service) HoldForShowing(ctx context.Context, user string, codes []string) (string, error) {
	id, err := randomToken(s.Rand, 12)
	if err != nil {
		return "", err
	}
	sealed, err := s.Sealer.Seal([]byte(strings.Join(codes, "\n")), recoveryShownName+user+":"+id)
	if err != nil {
		return "", err
	}
	if err := s.Store.Put(ctx, store.UserKey(user, recoveryShownName+id), sealed, recoveryShownLife); err != nil {
		return "", fmt.Errorf("challenge: holding new recovery codes: %w", err)
	}
	return id, nil
}

// TakeShown returns the codes held by HoldForShowing, once; store.ErrNotFound when
// they were shown already or waited too long.
func (s *Service) TakeShown(ctx context.Context, user, id string) ([]string, error) {
	sealed, err := s.Store.Take(ctx, store.UserKey(user, recoveryShownName+id))
	if err != nil {
		return nil, err
	}
	b, err := s.Sealer.Open(sealed, recoveryShownName+user+":"+id)
	if err != nil {
		return nil, fmt.Errorf("challenge: opening new recovery codes: %w", err)
	}
	return strings.Split(string(b), "\n"), nil
}
