package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/locale"
	"github.com/caddy-stepup/stepup/store"
)

// Queue defaults.
const (
	DefaultQueueSize = 1024
	DefaultWorkers   = 4
	DefaultDrain     = 5 * time.Second
)

// A Limit is at most Max notices per user within Window, a fixed window from the
// first. A zero Max is no limit.
type Limit struct {
	Max    int
	Window time.Duration
}

// Counter counts notices per user in the store, so the limits hold across instances:
// store.Store's Incr.
type Counter interface {
	Incr(ctx context.Context, key store.Key, window time.Duration) (int64, error)
}

// A Target is a notifier a queue hands each notice to.
type Target struct {
	// Name names the notifier in logs and metrics: "webhook", "sms".
	Name string
	// Notifier sends.
	Notifier Notifier
	// Limit is at most how many notices one user gets through this notifier, on top of
	// the queue's own limit: an SMS costs the operator money.
	Limit Limit
}

// Metrics counts what a queue does.
type Metrics interface {
	// Dropped counts a notice that went to no notifier, by reason: "queue_full",
	// "rate_limited" (the user's limit), "store_error" (the limit could not be
	// counted) or "closed" (the configuration was unloading).
	Dropped(reason string)
	// Delivered counts one notifier's outcome for a notice: "sent", "failed",
	// "skipped" (nowhere to send it) or "rate_limited" (the notifier's own limit).
	Delivered(notifier, outcome string)
}

// Config sets up a Queue.
type Config struct {
	// Targets are the notifiers, each handed every notice in turn.
	Targets []Target
	// Size bounds the notices waiting to be sent (default DefaultQueueSize); Workers
	// send them (default DefaultWorkers).
	Size, Workers int
	// Limit is at most how many notices one user gets, whatever the notifiers.
	Limit Limit
	// Counter counts the limits; required when any is set.
	Counter Counter
	// Lang returns the code of the language user last used the pages in, or "" for
	// none known; nil knows none. Default is the language otherwise (default English).
	Lang    func(ctx context.Context, user string) (string, error)
	Default *locale.Lang
	// Issuer is the console's name, first in every sentence.
	Issuer string
	// Logger is the operator's log (default: none); Metrics count (default: nothing).
	Logger  *zap.Logger
	Metrics Metrics
	// Drain is how long Close waits for queued notices to be sent before it stops the
	// sends (default DefaultDrain).
	Drain time.Duration
}

// A Queue sends notices in the background: Enqueue never blocks, a bounded channel
// holds what waits, and a few workers send. Close stops it.
type Queue struct {
	cfg    Config
	log    *zap.Logger
	ch     chan Notice
	ctx    context.Context // ends when Close gives up waiting
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.RWMutex // guards closed against a send on the closed channel
	closed bool
}

// NewQueue checks c, fills in its defaults and starts the workers.
func NewQueue(c Config) (*Queue, error) {
	if len(c.Targets) == 0 {
		return nil, errors.New("notify: a queue needs at least one notifier")
	}
	limited := c.Limit.Max > 0
	for _, t := range c.Targets {
		if t.Notifier == nil || t.Name == "" {
			return nil, errors.New("notify: every notifier needs a name")
		}
		limited = limited || t.Limit.Max > 0
		if t.Limit.Max < 0 || t.Limit.Max > 0 && t.Limit.Window <= 0 {
			return nil, fmt.Errorf("notify: %s: a limit needs a number of notices and a positive window", t.Name)
		}
	}
	if c.Limit.Max < 0 || c.Limit.Max > 0 && c.Limit.Window <= 0 {
		return nil, errors.New("notify: a limit needs a number of notices and a positive window")
	}
	if limited && c.Counter == nil {
		return nil, errors.New("notify: limits need a store to count in")
	}
	if c.Size < 0 || c.Workers < 0 || c.Drain < 0 {
		return nil, errors.New("notify: the queue's size, workers and drain time must not be negative")
	}
	if c.Size == 0 {
		c.Size = DefaultQueueSize
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.Drain == 0 {
		c.Drain = DefaultDrain
	}
	if c.Default == nil {
		c.Default = locale.English
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Metrics == nil {
		c.Metrics = noMetrics{}
	}
	q := &Queue{cfg: c, log: c.Logger, ch: make(chan Notice, c.Size)}
	q.ctx, q.cancel = context.WithCancel(context.Background())
	q.wg.Add(c.Workers)
	for range c.Workers {
		go q.work()
	}
	return q, nil
}

// Enqueue puts n in the queue, with a new ID unless it has one, and reports whether it
// did. It never blocks: when the queue is full, or closed, n is dropped, logged and
// counted.
func (q *Queue) Enqueue(n Notice) bool {
	if n.ID == "" {
		n.ID = newID()
	}
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		q.drop(n, "closed", "the gateway's configuration is unloading")
		return false
	}
	select {
	case q.ch <- n:
		return true
	default:
		q.drop(n, "queue_full", "the queue is full")
		return false
	}
}

// Close stops taking notices, waits up to the drain time for the queued ones to be
// sent, then stops the sends still running (a webhook waiting to retry, say) and drops
// what is left, and returns once every worker has ended. Closing twice is harmless.
func (q *Queue) Close() {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.closed = true
	close(q.ch)
	q.mu.Unlock()

	done := make(chan struct{})
	go func() {
		q.wg.Wait()
		close(done)
	}()
	drain := time.NewTimer(q.cfg.Drain)
	defer drain.Stop()
	select {
	case <-done:
		q.cancel()
		return
	case <-drain.C:
	}
	q.log.Warn("security notices: not all were sent before the configuration unloaded; stopping the rest",
		zap.Int("waiting", len(q.ch)), zap.Duration("drain", q.cfg.Drain))
	q.cancel()
	// Notifiers end on the cancelled context; one that does not is left behind, said.
	select {
	case <-done:
	case <-time.After(q.cfg.Drain):
		q.log.Error("security notices: a notifier did not stop when asked")
	}
}

// work sends the queued notices until the queue is closed and empty.
func (q *Queue) work() {
	defer q.wg.Done()
	for n := range q.ch {
		if q.ctx.Err() != nil {
			q.drop(n, "closed", "the gateway's configuration unloaded before it was sent")
			continue
		}
		q.send(q.ctx, n)
	}
}

// send counts n against the user's limit, renders it in the user's language and hands
// it to each notifier within that notifier's own limit.
func (q *Queue) send(ctx context.Context, n Notice) {
	if ok, reason := q.allow(ctx, n.User, "notices", q.cfg.Limit); !ok {
		q.drop(n, reason, "")
		return
	}
	l := q.lang(ctx, n.User)
	n.Lang = l.Code()
	n.Text = Render(l, q.cfg.Issuer, n)
	for _, t := range q.cfg.Targets {
		fields := []zap.Field{zap.String("id", n.ID), zap.String("kind", string(n.Kind)), zap.String("user", n.User), zap.String("notifier", t.Name)}
		if ok, reason := q.allow(ctx, n.User, "notices:"+t.Name, t.Limit); !ok {
			if reason == "store_error" {
				reason = "failed"
			}
			q.cfg.Metrics.Delivered(t.Name, reason)
			q.log.Warn("security notice not sent by this notifier: the user's limit for it is reached, or could not be counted",
				append(fields, zap.Int("limit", t.Limit.Max), zap.Duration("window", t.Limit.Window))...)
			continue
		}
		err := t.Notifier.Notify(ctx, n)
		switch {
		case errors.Is(err, ErrSkipped):
			q.cfg.Metrics.Delivered(t.Name, "skipped")
			q.log.Debug("security notice skipped: nowhere to send it for this user", fields...)
		case err != nil:
			q.cfg.Metrics.Delivered(t.Name, "failed")
			q.log.Error("security notice not sent", append(fields, zap.Error(err))...)
		default:
			q.cfg.Metrics.Delivered(t.Name, "sent")
			q.log.Info("security notice sent", append(fields, zap.String("lang", n.Lang))...)
		}
	}
}

// StoreTimeout bounds each store call of a notice (its counts, the user's language
// and phone), so a store that hangs holds a worker no longer than this: its notice is
// dropped, counted, and the queue goes on.
const StoreTimeout = 5 * time.Second

// allow counts a notice of user against lim, under the user's record name, and
// reports whether it is within it; if not, why: "rate_limited" or "store_error".
func (q *Queue) allow(ctx context.Context, user, name string, lim Limit) (bool, string) {
	if lim.Max <= 0 {
		return true, ""
	}
	ctx, cancel := context.WithTimeout(ctx, StoreTimeout)
	defer cancel()
	n, err := q.cfg.Counter.Incr(ctx, store.UserKey(user, name), lim.Window)
	if err != nil {
		q.log.Error("security notices: the user's count could not be kept", zap.String("user", user), zap.Error(err))
		return false, "store_error"
	}
	if n > int64(lim.Max) {
		return false, "rate_limited"
	}
	return true, ""
}

// lang is the language to tell user in: the one they last used the pages in, else the
// default.
func (q *Queue) lang(ctx context.Context, user string) *locale.Lang {
	if q.cfg.Lang == nil {
		return q.cfg.Default
	}
	ctx, cancel := context.WithTimeout(ctx, StoreTimeout)
	defer cancel()
	code, err := q.cfg.Lang(ctx, user)
	if err != nil {
		q.log.Warn("security notices: the user's language could not be read; using the default", zap.String("user", user), zap.Error(err))
	}
	if l, ok := locale.Parse(code); ok {
		return l
	}
	return q.cfg.Default
}

// drop logs and counts a notice that goes to no notifier.
func (q *Queue) drop(n Notice, reason, why string) {
	q.cfg.Metrics.Dropped(reason)
	if why == "" {
		why = map[string]string{"rate_limited": "the user's limit of notices is reached", "store_error": "the user's limit could not be counted"}[reason]
	}
	q.log.Warn("security notice dropped: "+why, zap.String("id", n.ID), zap.String("kind", string(n.Kind)),
		zap.String("user", n.User), zap.String("reason", reason))
}

// newID returns a random notice ID: 128 bits, in hex.
func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

type noMetrics struct{}

func (noMetrics) Dropped(string)           {}
func (noMetrics) Delivered(string, string) {}
