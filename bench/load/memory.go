package main

import (
	"context"
	"encoding/base32"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-stepup/stepup/challenge"
	"github.com/caddy-stepup/stepup/policy"
	"github.com/caddy-stepup/stepup/store"
	"github.com/caddy-stepup/stepup/token"
)

// measureMemory measures what Redis holds per user, per gateway session, per step-up
// token and per challenge, as used_memory deltas over n of each, made the way the
// gateway makes them (store, token and challenge packages) under a fresh prefix:
//
//   - a user: its entry in the user index and a bound authenticator app (a challenge
//     begun, the binding started and confirmed with two codes), measured once with
//     the counters and marks that live for the challenge lifetime (5 min), and once
//     with only what lasts (the factors record, the index entry);
//   - a session: a gateway session token's grant;
//   - a step-up token: its grant in the session;
//   - a challenge: an operation challenge begun for a user with an app bound.
func measureMemory(ctx context.Context, out io.Writer, redisAddr string, n int) error {
	prefix := "stepupbench:mem:" + randomHex(8) + ":"
	c := redis.NewClient(&redis.Options{Addr: redisAddr, PoolSize: 32})
	defer c.Close()
	st := store.NewRedis(c, prefix)
	defer st.Close()
	defer deletePrefix(context.Background(), redisAddr, prefix)
	tokens, err := token.New(token.Config{Issuer: benchIssuer, HMACKey: []byte(hmacKey())}, st)
	if err != nil {
		return err
	}
	sealer, err := challenge.NewSealer([]byte(hmacKey()))
	if err != nil {
		return err
	}
	svc, err := challenge.New(challenge.Service{Store: st, Sealer: sealer, Issuer: benchIssuer})
	if err != nil {
		return err
	}
	user := func(i int) string { return "mem-user-" + strconv.Itoa(i) }
	sessions := make([]string, n)

	type phase struct {
		name string
		each func(i int) error
		// lasting, when set, measures again after deleting every key with a TTL.
		lasting bool
	}
	phases := []phase{
		{name: "user (index entry + bound app)", lasting: true, each: func(i int) error {
			u := user(i)
			if err := st.AddUser(ctx, u); err != nil {
				return err
			}
			ch, err := svc.Begin(ctx, challenge.Challenge{User: u, Binding: "b", Purpose: policy.PurposeOperation, Methods: []policy.Method{policy.TOTP}})
			if err != nil {
				return err
			}
			en, err := svc.StartTOTPBinding(ctx, ch.ID, "b")
			if err != nil {
				return err
			}
			secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(en.Secret)
			if err != nil {
				return err
			}
			now := time.Now()
			_, err = svc.ConfirmTOTPBinding(ctx, ch.ID, "b", challenge.TOTPCode(secret, now.Add(-30*time.Second)), challenge.TOTPCode(secret, now), "192.0.2.1")
			return err
		}},
		{name: "session (grant)", each: func(i int) error {
			_, cl, err := tokens.Issue(ctx, token.Session, user(i), "", []string{"pwd"}, time.Now().Add(-time.Second))
			sessions[i] = cl.ID
			return err
		}},
		{name: "step-up token (grant)", each: func(i int) error {
			_, _, err := tokens.Issue(ctx, token.StepUp, user(i), sessions[i], []string{"otp"}, time.Now().Add(-time.Second))
			return err
		}},
		{name: "challenge (operation)", each: func(i int) error {
			_, err := svc.Begin(ctx, challenge.Challenge{User: user(i), Binding: sessions[i], Purpose: policy.PurposeOperation,
				Rule: "bench", Return: "/api/protected/x", Methods: []policy.Method{policy.TOTP}})
			return err
		}},
	}
	fmt.Fprintf(out, "\nRedis memory (used_memory deltas over %d of each, key prefix of %d bytes):\n", n, len(prefix))
	for _, p := range phases {
		before, err := usedMemory(redisAddr)
		if err != nil {
			return err
		}
		if err := parallel(ctx, n, p.each); err != nil {
			return fmt.Errorf("memory: %s: %w", p.name, err)
		}
		after, err := usedMemory(redisAddr)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  %-36s %6.0f bytes each\n", p.name, float64(after-before)/float64(n))
		if !p.lasting {
			continue
		}
		if err := deleteExpiring(ctx, c, prefix); err != nil {
			return err
		}
		lasting, err := usedMemory(redisAddr)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  %-36s %6.0f bytes each\n", "  of which lasting past 5 min", float64(lasting-before)/float64(n))
	}
	return nil
}

// parallel runs each(0..n-1) on 32 goroutines and returns the first error.
func parallel(ctx context.Context, n int, each func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var first atomic.Pointer[error]
	for range 32 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil || first.Load() != nil {
					return
				}
				if err := each(i); err != nil {
					first.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	if p := first.Load(); p != nil {
		return *p
	}
	return ctx.Err()
}

// usedMemory returns INFO memory used_memory.
func usedMemory(addr string) (int64, error) {
	info, err := redisInfo(addr, "memory")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("INFO memory: no used_memory")
}

// deleteExpiring deletes the keys under prefix that have a TTL.
func deleteExpiring(ctx context.Context, c *redis.Client, prefix string) error {
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return err
	}
	cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.PTTL(ctx, k)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var expiring []string
	for i, cmd := range cmds {
		if d, err := cmd.(*redis.DurationCmd).Result(); err == nil && d > 0 {
			expiring = append(expiring, keys[i])
		}
	}
	for len(expiring) > 0 {
		k := min(len(expiring), 1000)
		if err := c.Del(ctx, expiring[:k]...).Err(); err != nil {
			return err
		}
		expiring = expiring[k:]
	}
	return nil
}
