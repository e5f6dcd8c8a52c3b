package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-stepup/stepup/store"
	"github.com/caddy-stepup/stepup/token"
)

// The many-users scenario: every request comes from one of many distinct users, each
// with its own gateway session and step-up token, so an instance's live cache answers
// only what it has seen lately and most requests ask Redis. The users are made
// directly with the token package against the bench's Redis, signed with the key the
// bench's Caddy config uses: through HTTP, 100,000 sign-ins and TOTP bindings would
// take longer than the benchmark itself.

// benchIssuer is the Caddy module's default issuer, the tokens' iss and aud.
const benchIssuer = "caddy-stepup"

// makeUsers issues a gateway session and a step-up token for n users and returns one
// Cookie header value per user.
func makeUsers(ctx context.Context, redisAddr, prefix string, signingKey []byte, n int) ([]string, error) {
	workers := 16 * runtime.GOMAXPROCS(0)
	c := redis.NewClient(&redis.Options{Addr: redisAddr, PoolSize: workers})
	defer c.Close()
	st := store.NewRedis(c, prefix)
	defer st.Close()
	tokens, err := token.New(token.Config{Issuer: benchIssuer, Audience: benchIssuer, HMACKey: signingKey, Lifetime: time.Hour}, st)
	if err != nil {
		return nil, err
	}
	cookies := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	authTime := time.Now().Add(-time.Second)
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				user := "bench-" + strconv.Itoa(i)
				sess, sc, err := tokens.Issue(ctx, token.Session, user, "", []string{"pwd"}, authTime)
				if err != nil {
					errs <- err
					return
				}
				tok, _, err := tokens.Issue(ctx, token.StepUp, user, sc.ID, []string{"otp"}, authTime)
				if err != nil {
					errs <- err
					return
				}
				cookies[i] = "stepup_session=" + sess + "; stepup_token=" + tok
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, fmt.Errorf("making %d users: %w", n, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return cookies, nil
}

// scriptCalls returns how many scripts the Redis server at addr has run (EVALSHA and
// EVAL): while a protected scenario runs, each is one Live question its cache could
// not answer.
func scriptCalls(addr string) (int64, error) {
	info, err := redisInfo(addr, "commandstats")
	if err != nil {
		return 0, err
	}
	var n int64
	for line := range strings.SplitSeq(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || (name != "cmdstat_evalsha" && name != "cmdstat_eval") {
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
		v, err := strconv.ParseInt(calls, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("INFO commandstats: %q: %v", line, err)
		}
		n += v
	}
	return n, nil
}

// redisInfo returns the INFO section of the Redis server at addr.
func redisInfo(addr, section string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "INFO %s\r\n", section); err != nil {
		return "", err
	}
	br := bufio.NewReader(c)
	head, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(head, "$") {
		return "", fmt.Errorf("INFO answered %q", strings.TrimSpace(head))
	}
	size, err := strconv.Atoi(strings.TrimSpace(head[1:]))
	if err != nil {
		return "", fmt.Errorf("INFO answered %q", strings.TrimSpace(head))
	}
	buf := make([]byte, size+2)
	if _, err := io.ReadFull(br, buf); err != nil {
		return "", err
	}
	return string(buf[:size]), nil
}
