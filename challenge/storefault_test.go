package challenge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/store"
)

// faultStore fails the n-th call (counting from 1) with an unavailable store.
type faultStore struct {
	store.Store
	mu     sync.Mutex
	calls  int
	failAt int // 0: not armed
	next   int // which call after arm fails
	failed bool
}

// arm makes the next-th call from now fail.
func (f *faultStore) arm() {
	f.mu.Lock()
	f.failAt = f.calls + f.next
	f.mu.Unlock()
}

func (f *faultStore) fault() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.failAt > 0 && f.calls == f.failAt {
		f.failed = true
		return fmt.Errorf("%w: injected fault", store.ErrUnavailable)
	}
	return nil
}

func (f *faultStore) Get(ctx context.Context, k store.Key) ([]byte, error) {
	if err := f.fault(); err != nil {
		return nil, err
	}
	return f.Store.Get(ctx, k)
}

func (f *faultStore) Put(ctx context.Context, k store.Key, v []byte, ttl time.Duration) error {
	if err := f.fault(); err != nil {
		return err
	}
	return f.Store.Put(ctx, k, v, ttl)
}

func (f *faultStore) PutNew(ctx context.Context, k store.Key, v []byte, ttl time.Duration) (bool, error) {
	if err := f.fault(); err != nil {
		return false, err
	}
	return f.Store.PutNew(ctx, k, v, ttl)
}

func (f *faultStore) Take(ctx context.Context, k store.Key) ([]byte, error) {
	if err := f.fault(); err != nil {
		return nil, err
	}
	return f.Store.Take(ctx, k)
}

func (f *faultStore) Delete(ctx context.Context, ks ...store.Key) error {
	if err := f.fault(); err != nil {
		return err
	}
	return f.Store.Delete(ctx, ks...)
}

func (f *faultStore) Incr(ctx context.Context, k store.Key, w time.Duration) (int64, error) {
	if err := f.fault(); err != nil {
		return 0, err
	}
	return f.Store.Incr(ctx, k, w)
}

func (f *faultStore) Advance(ctx context.Context, k store.Key, n int64) (bool, error) {
	if err := f.fault(); err != nil {
		return false, err
	}
	return f.Store.Advance(ctx, k, n)
}

// A faultOp sets up its state, arms the fault store, and runs the operation under test.
type faultOp func(e *env, fs *faultStore) error

// Every store call of every operation, failed in turn, makes the operation fail with
// the store's error: never a pass, never "not found" or "wrong code".
func TestStoreFailurePropagates(t *testing.T) {
	type op = faultOp
	verify := func(right bool) op {
		return func(e *env, fs *faultStore) error {
			secret := e.bind("alice")
			c := e.begin("alice")
			code := e.code(secret)
			if !right {
				code = e.wrongCode(secret)
			}
			fs.arm()
			_, err := e.verify(c, code)
			return err
		}
	}
	ops := map[string]op{
		"verify right code": verify(true),
		"verify wrong code": verify(false),
		"verify after lock": func(e *env, fs *faultStore) error {
			secret := e.bind("alice")
			for range 5 {
				c := e.begin("alice")
				e.verify(c, e.wrongCode(secret))
				e.verify(c, e.wrongCode(secret))
			}
			e.clock.Add(15 * time.Minute)
			c := e.begin("alice")
			fs.arm()
			_, err := e.verify(c, e.code(secret))
			return err
		},
		"begin": func(e *env, fs *faultStore) error {
			fs.arm()
			_, err := e.svc.Begin(e.ctx, Challenge{User: "alice", Binding: "b", Purpose: policy.PurposeLogin})
			return err
		},
		"challenge": func(e *env, fs *faultStore) error {
			c := e.begin("alice")
			fs.arm()
			_, err := e.svc.Challenge(e.ctx, c.ID, c.Binding)
			return err
		},
		"start binding": func(e *env, fs *faultStore) error {
			c := e.begin("alice")
			fs.arm()
			_, err := e.svc.StartTOTPBinding(e.ctx, c.ID, c.Binding)
			return err
		},
		"confirm binding": func(e *env, fs *faultStore) error {
			c := e.begin("alice")
			en, err := e.svc.StartTOTPBinding(e.ctx, c.ID, c.Binding)
			if err != nil {
				return err
			}
			secret, _ := b32.DecodeString(en.Secret)
			fs.arm()
			_, err = e.svc.ConfirmTOTPBinding(e.ctx, c.ID, c.Binding, TOTPCode(secret, e.clock.Now().Add(-30*time.Second)), e.code(secret), testIP)
			return err
		},
		"unbind": func(e *env, fs *faultStore) error {
			secret := e.bind("alice")
			fs.arm()
			return e.svc.UnbindTOTP(e.ctx, "alice", e.code(secret), testIP)
		},
		"factors": func(e *env, fs *faultStore) error {
			e.bind("alice")
			fs.arm()
			_, err := e.svc.Factors(e.ctx, "alice")
			return err
		},
		"reset": func(e *env, fs *faultStore) error {
			fs.arm()
			return e.svc.ResetFactors(e.ctx, "alice")
		},
	}
	checkStoreFaults(t, ops)
}

// checkStoreFaults runs each op once per store call it makes, failing that call, and
// checks that the op then fails with the store's error and nothing else.
func checkStoreFaults(t *testing.T, ops map[string]faultOp) {
	for name, run := range ops {
		t.Run(name, func(t *testing.T) {
			for k := 1; ; k++ {
				mem, _ := store.NewMemory("")
				fs := &faultStore{Store: mem}
				e := newEnvWith(t, fs, Limits{})
				fs.next = k // the op arms it after setting up
				err := run(e, fs)
				mem.Close()
				if !fs.failed {
					if k == 1 {
						t.Fatal("operation made no store call")
					}
					t.Logf("each of %d store calls failed in turn", k-1)
					break
				}
				if !errors.Is(err, store.ErrUnavailable) {
					t.Fatalf("store call %d failed: err = %v, want the store's error", k, err)
				}
				for _, sentinel := range []error{ErrWrongCode, ErrChallengeEnded, ErrNotYours, ErrLocked, ErrIPLimited, ErrNotBound, ErrAlreadyBound, store.ErrNotFound,
					ErrSendLimited, ErrSendFailed, ErrNotOffered} {
					if errors.Is(err, sentinel) {
						t.Fatalf("store call %d failed: err = %v reads as %v", k, err, sentinel)
					}
				}
			}
		})
	}
}
