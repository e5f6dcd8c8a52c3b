package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-stepup/stepup/store"
)

// measurePropagation measures how long a revocation on one gateway instance takes to
// reach two others: three stores on the same Redis (each its own client and
// revocation subscriber, as three gateway processes would have); for each sample a
// fresh grant is made live and cached on the two others, revoked on the first, and
// each of the others is asked Live until it says no. A sample starts when Revoke is
// called, so it includes the revoking script's round trip.
func measurePropagation(ctx context.Context, out io.Writer, redisAddr string, samples int) error {
	prefix := "stepupbench:prop:" + randomHex(8) + ":"
	var stores []*store.Redis
	for range 3 {
		c := redis.NewClient(&redis.Options{Addr: redisAddr})
		defer c.Close()
		st := store.NewRedis(c, prefix)
		defer st.Close()
		stores = append(stores, st)
	}
	defer deletePrefix(context.Background(), redisAddr, prefix)
	a, others := stores[0], stores[1:]

	var took []time.Duration
	skipped := 0
	for i := 0; i < samples && ctx.Err() == nil; i++ {
		user, id := "prop-"+strconv.Itoa(i), "g"+strconv.Itoa(i)
		if err := a.Track(ctx, store.Grant{User: user, ID: id, Session: id, Expires: time.Now().Add(time.Hour)}); err != nil {
			return err
		}
		// Each other instance must answer from its cache, or the sample measures nothing
		// but a Redis round trip: ask until a second answer is a cache hit (the
		// subscription may still be coming up).
		cached := true
		for _, o := range others {
			if !answeredFromCache(ctx, o, user, id) {
				cached = false
			}
		}
		if !cached {
			skipped++
			continue
		}
		done := make(chan time.Duration, len(others))
		start := time.Now()
		for _, o := range others {
			go func() {
				for ctx.Err() == nil {
					if live, err := o.Live(ctx, user, id); err != nil || !live {
						done <- time.Since(start)
						return
					}
					runtime.Gosched()
				}
				done <- -1
			}()
		}
		if err := a.Revoke(ctx, user, id); err != nil {
			return err
		}
		for range others {
			if d := <-done; d >= 0 {
				took = append(took, d)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(took) == 0 {
		return fmt.Errorf("revocation propagation: no sample had both other instances answering from their caches (%d skipped)", skipped)
	}
	slices.Sort(took)
	fmt.Fprintf(out, "\nrevocation propagation, one instance to two others on the same Redis (%d samples, %d skipped): p50 %s, p99 %s, max %s (goal p99 <= 50 ms)\n",
		len(took), skipped, fmtDur(percentile(took, 0.50)), fmtDur(percentile(took, 0.99)), fmtDur(took[len(took)-1]))
	return nil
}

// answeredFromCache asks st about the grant until its cache answers (a hit counted in
// LiveCacheStats), for up to 2 s.
func answeredFromCache(ctx context.Context, st *store.Redis, user, id string) bool {
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end) && ctx.Err() == nil; time.Sleep(5 * time.Millisecond) {
		h0, _ := st.LiveCacheStats()
		live, err := st.Live(ctx, user, id)
		if err != nil || !live {
			return false
		}
		if h1, _ := st.LiveCacheStats(); h1 > h0 {
			return true
		}
	}
	return false
}

func fmtDur(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

// deletePrefix removes every key under prefix.
func deletePrefix(ctx context.Context, redisAddr, prefix string) {
	c := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer c.Close()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		if batch = append(batch, iter.Val()); len(batch) == 1000 {
			c.Unlink(ctx, batch...)
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		c.Unlink(ctx, batch...)
	}
}
