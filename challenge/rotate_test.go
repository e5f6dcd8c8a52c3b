package challenge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/caddy-stepup/stepup/keyring"
	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/store"
)

// rotated returns a service on e's store and clock whose encryption keys are keys
// (current first), as a gateway reloaded with them would be, and the users its
// Resealed hook heard of.
func (e *env) rotated(keys ...[]byte) (*Service, *resealLog) {
	e.t.Helper()
	sealer, err := NewSealer(keys[0], keys[1:]...)
	if err != nil {
		e.t.Fatal(err)
	}
	log := &resealLog{}
	svc, err := New(Service{Store: e.st, Sealer: sealer, SMS: e.svc.SMS, Issuer: e.svc.Issuer, Limits: e.svc.Limits, Now: e.clock.Now, Resealed: log.note})
	if err != nil {
		e.t.Fatal(err)
	}
	return svc, log
}

type resealLog struct {
	mu    sync.Mutex
	users []string
	errs  []error
}

func (l *resealLog) note(user string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.users = append(l.users, user)
	l.errs = append(l.errs, err)
}

// sealedIn returns the key a user's sealed field was sealed with, from the stored bytes.
func (e *env) sealedIn(user string, phone bool) string {
	e.t.Helper()
	f, err := loadFactors(e.ctx, e.st, user)
	if err != nil {
		e.t.Fatal(err)
	}
	if phone {
		return SealedWith(f.Phone.SealedNumber)
	}
	return SealedWith(f.TOTP.SealedSecret)
}

var (
	oldID  = keyring.IDOf(testKey).String()
	nextID = keyring.IDOf(nextKey).String()
)

// TestTOTPAcrossRotation: a secret sealed with the old key verifies once the new key
// is first, is resealed with the new key on that use, and verifies once the old key
// is dropped.
func TestTOTPAcrossRotation(t *testing.T) {
	e := newEnv(t, Limits{})
	secret := e.bind("alice")
	if e.sealedIn("alice", false) != oldID {
		t.Fatal("bound with another key")
	}
	during, log := e.rotated(nextKey, testKey)
	c, _ := during.Begin(e.ctx, Challenge{User: "alice", Binding: binding("alice"), Purpose: policy.PurposeOperation, Methods: []policy.Method{policy.TOTP}})
	if _, err := during.VerifyTOTP(e.ctx, c.ID, c.Binding, e.code(secret), testIP); err != nil {
		t.Fatalf("the old key's secret during the rotation: %v", err)
	}
	if got := e.sealedIn("alice", false); got != nextID {
		t.Fatalf("after its use the secret is sealed with %s, want the new key %s", got, nextID)
	}
	if len(log.users) != 1 || log.users[0] != "alice" || log.errs[0] != nil {
		t.Fatalf("resealed: %v %v", log.users, log.errs)
	}
	// Used again: nothing more to reseal.
	e.nextStep()
	c, _ = during.Begin(e.ctx, Challenge{User: "alice", Binding: binding("alice"), Purpose: policy.PurposeOperation, Methods: []policy.Method{policy.TOTP}})
	if _, err := during.VerifyTOTP(e.ctx, c.ID, c.Binding, e.code(secret), testIP); err != nil || len(log.users) != 1 {
		t.Fatalf("second use: %v, resealed %v", err, log.users)
	}
	// The old key dropped.
	after, _ := e.rotated(nextKey)
	e.nextStep()
	c, _ = after.Begin(e.ctx, Challenge{User: "alice", Binding: binding("alice"), Purpose: policy.PurposeOperation, Methods: []policy.Method{policy.TOTP}})
	if _, err := after.VerifyTOTP(e.ctx, c.ID, c.Binding, e.code(secret), testIP); err != nil {
		t.Fatalf("the resealed secret with the old key dropped: %v", err)
	}
}

// TestResealKeepsTheRecord: resealing touches only the sealed values: fields this
// version does not know stay, and a first-format value is resealed too.
func TestResealKeepsTheRecord(t *testing.T) {
	e := newEnv(t, Limits{})
	secret, _ := NewTOTPSecret(e.svc.Rand)
	rec := map[string]any{
		"totp":    map[string]any{"sealed_secret": sealV1Value(t, testKey, secret, totpBoundTo("bob")), "bound_at": e.clock.Now(), "device": "from a newer gateway"},
		"choices": map[string]any{"login": map[string]any{"on": true}},
		"future":  []int{1, 2, 3},
	}
	raw, _ := json.Marshal(rec)
	e.st.Put(e.ctx, store.UserKey("bob", factorsName), raw, 0)

	during, log := e.rotated(nextKey, testKey)
	c, _ := during.Begin(e.ctx, Challenge{User: "bob", Binding: binding("bob"), Purpose: policy.PurposeOperation, Methods: []policy.Method{policy.TOTP}})
	if _, err := during.VerifyTOTP(e.ctx, c.ID, c.Binding, e.code(secret), testIP); err != nil {
		t.Fatal(err)
	}
	if e.sealedIn("bob", false) != nextID || len(log.users) != 1 {
		t.Fatalf("the first-format secret was not resealed: %s", e.sealedIn("bob", false))
	}
	got, _ := e.st.Get(e.ctx, store.UserKey("bob", factorsName))
	var back struct {
		TOTP    map[string]any
		Choices map[string]any
		Future  []int
	}
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatalf("record %s: %v", got, err)
	}
	if back.TOTP["device"] != "from a newer gateway" || back.Choices["login"] == nil || len(back.Future) != 3 {
		t.Errorf("the resealed record lost fields: %s", got)
	}
}

// swapStore lets a test act between a reseal's read and its write, or fail the write.
type swapStore struct {
	*store.Memory
	before func()
	fail   error
}

func (s *swapStore) Swap(ctx context.Context, k store.Key, old, value []byte) (bool, error) {
	if s.before != nil {
		s.before()
		s.before = nil
	}
	if s.fail != nil {
		return false, s.fail
	}
	return s.Memory.Swap(ctx, k, old, value)
}

// TestResealOnUseNeverLoses: a record changed between the reseal's read and write is
// not overwritten (an unbinding is not undone), and a failed write fails no request.
func TestResealOnUseNeverLoses(t *testing.T) {
	mem, _ := store.NewMemory("")
	defer mem.Close()
	sw := &swapStore{Memory: mem}
	e := newEnvWith(t, sw, Limits{})
	secret := e.bind("alice")

	during, log := e.rotated(nextKey, testKey)
	// The user unbinds at the same moment (another instance): the record goes.
	sw.before = func() { mem.Delete(e.ctx, store.UserKey("alice", factorsName)) }
	c, _ := during.Begin(e.ctx, Challenge{User: "alice", Binding: binding("alice"), Purpose: policy.PurposeOperation, Methods: []policy.Method{policy.TOTP}})
	if _, err := during.VerifyTOTP(e.ctx, c.ID, c.Binding, e.code(secret), testIP); err != nil {
		t.Fatalf("the request failed: %v", err)
	}
	if _, err := mem.Get(e.ctx, store.UserKey("alice", factorsName)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the reseal brought an unbound factor back: %v", err)
	}
	if len(log.errs) != 1 || log.errs[0] == nil {
		t.Errorf("the hook heard %v", log.errs)
	}

	// The store fails the write: the request passes all the same.
	secret = e.bind("carol")
	sw.fail = store.ErrUnavailable
	e.nextStep()
	c, _ = during.Begin(e.ctx, Challenge{User: "carol", Binding: binding("carol"), Purpose: policy.PurposeOperation, Methods: []policy.Method{policy.TOTP}})
	if _, err := during.VerifyTOTP(e.ctx, c.ID, c.Binding, e.code(secret), testIP); err != nil {
		t.Fatalf("a failed write-back failed the request: %v", err)
	}
	if len(log.errs) != 2 || !errors.Is(log.errs[1], store.ErrUnavailable) {
		t.Errorf("the hook heard %v", log.errs)
	}
	if e.sealedIn("carol", false) != oldID {
		t.Error("the record changed though the write failed")
	}
}

// TestSMSAcrossRotation: a code sent before the rotation is right after it; the phone
// number is resealed on use; sends counted before the rotation still count against the
// number's daily limit.
func TestSMSAcrossRotation(t *testing.T) {
	e := newEnv(t, Limits{})
	out := e.withSMS()
	start := e.clock.Now()
	for _, u := range []string{"alice", "bob", "carol"} {
		e.bindPhone(u, testNumber)
	}
	c := e.beginWith("alice", policy.SMS)
	if _, err := e.send(c); err != nil {
		t.Fatal(err)
	}
	code := out.lastCode(t)
	for range 4 { // five sends to the number before the rotation
		if _, err := e.send(e.beginWith("bob", policy.SMS)); err != nil {
			t.Fatal(err)
		}
	}

	during, log := e.rotated(nextKey, testKey)
	if _, err := during.VerifySMS(e.ctx, c.ID, c.Binding, code, testIP); err != nil {
		t.Fatalf("a code sent before the rotation: %v", err)
	}
	if e.sealedIn("alice", true) != nextID || len(log.users) != 1 {
		t.Fatal("the phone number was not resealed on use")
	}
	for i := range 5 { // five more: the number's limit is ten a day
		cc, _ := during.Begin(e.ctx, Challenge{User: "carol", Binding: binding("carol"), Purpose: policy.PurposeOperation, Methods: []policy.Method{policy.SMS}})
		if _, err := during.SendSMSCode(e.ctx, cc.ID, cc.Binding, testIP, nil); err != nil {
			t.Fatalf("send %d after the rotation: %v", i+1, err)
		}
		if i == 0 && e.sealedIn("carol", true) != nextID {
			t.Error("SendSMSCode did not reseal the number")
		}
	}
	cc, _ := during.Begin(e.ctx, Challenge{User: "alice", Binding: binding("alice"), Purpose: policy.PurposeOperation, Methods: []policy.Method{policy.SMS}})
	_, err := during.SendSMSCode(e.ctx, cc.ID, cc.Binding, testIP, nil)
	wantLimited(t, err, SendLimitNumber, start.Add(24*time.Hour))
}

// TestReseal: every sealed value in the store is sealed again with the current key,
// whatever it was sealed with; values no key opens are counted, not lost; a second run
// finds nothing to do.
func TestReseal(t *testing.T) {
	e := newEnv(t, Limits{})
	e.withSMS()
	for _, u := range []string{"alice", "bob"} { // sealed with the old key
		e.bind(u)
		e.bindPhone(u, testNumber)
	}
	v1, _ := json.Marshal(Factors{TOTP: &TOTPBinding{SealedSecret: sealV1Value(t, testKey, []byte("secret"), totpBoundTo("carol"))}})
	e.st.Put(e.ctx, store.UserKey("carol", factorsName), v1, 0)
	lost, _ := NewSealer(bytes.Repeat([]byte("l"), 32))
	sealedLost, _ := lost.Seal([]byte("secret"), totpBoundTo("dave"))
	saveFactors(e.ctx, e.st, "dave", Factors{TOTP: &TOTPBinding{SealedSecret: sealedLost}})
	e.st.Put(e.ctx, store.UserKey("erin", factorsName), []byte("not json"), 0)
	// A binding under way, sealed with the old key.
	pending := e.begin("frank")
	if _, err := e.svc.StartTOTPBinding(e.ctx, pending.ID, pending.Binding); err != nil {
		t.Fatal(err)
	}

	during, _ := e.rotated(nextKey, testKey)
	rep, err := during.Reseal(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.KeyID != nextID || rep.Records != 6 || rep.Resealed[oldID] != 5 || rep.Resealed["v1"] != 1 || rep.ResealedCount() != 6 ||
		rep.Unopenable[keyring.IDOf(bytes.Repeat([]byte("l"), 32)).String()] != 1 || rep.UnopenableCount() != 1 || rep.Damaged != 1 || rep.Current != 0 {
		t.Fatalf("report %+v", rep)
	}
	again, err := during.Reseal(e.ctx)
	if err != nil || again.ResealedCount() != 0 || again.Current != 6 || again.UnopenableCount() != 1 {
		t.Fatalf("second run %+v %v", again, err)
	}

	// Everything opens with the new key alone.
	after, _ := e.rotated(nextKey)
	for _, u := range []string{"alice", "bob", "carol"} {
		f, _ := loadFactors(e.ctx, e.st, u)
		if _, err := after.Sealer.Open(f.TOTP.SealedSecret, totpBoundTo(u)); err != nil {
			t.Errorf("%s's secret: %v", u, err)
		}
		if f.Phone != nil {
			if _, err := after.Sealer.Open(f.Phone.SealedNumber, phoneBoundTo(u)); err != nil {
				t.Errorf("%s's number: %v", u, err)
			}
		}
	}
	if _, err := after.StartTOTPBinding(e.ctx, pending.ID, pending.Binding); err != nil {
		t.Errorf("the binding under way: %v", err)
	}

	// A store that cannot be walked says so.
	noScan, _ := New(Service{Store: struct{ store.Store }{e.st}, Sealer: during.Sealer})
	if _, err := noScan.Reseal(e.ctx); !errors.Is(err, ErrCannotReseal) {
		t.Errorf("a store without Scan: %v", err)
	}
}
