package stores

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/store"
)

func init() {
	caddy.RegisterModule(Redis{})
}

// Redis is the store "stepup.stores.redis": the gateway's state in Redis (6.2 or
// later), shared by every gateway instance that uses the same URL and prefix. Redis
// may be one server, a master watched by Sentinel, or a Cluster; the URL says which.
//
// Redis replicates asynchronously, so a master that dies may take its last writes
// with it. Losing a session or a step-up token is an inconvenience; losing a
// revocation, a TOTP replay step, a single-use mark, an attempt counter, a lockout or a
// binding is a hole. Those writes wait until Replicas replicas acknowledged them
// (WAIT), or fail: the gateway then answers 503 rather than go on without them.
//
// A config reload keeps the connections: the configs share one client while they use
// the same settings.
type Redis struct {
	// URL of Redis. Placeholders such as {env.STEPUP_REDIS_URL} are expanded.
	//
	//	redis://[user:password@]host:port[/db][?options]      one server (rediss:// for TLS)
	//	unix://[user:password@]/path/to/redis.sock[?db=N]     one server, Unix socket
	//	redis+sentinel://[user:password@]host:port[/db]?master_name=NAME[&addr=host:port...]
	//	redis+cluster://[user:password@]host:port[?addr=host:port...]
	//
	// with rediss+sentinel:// and rediss+cluster:// for TLS. Options are go-redis's,
	// in snake case (dial_timeout=2s, pool_size=20, read_timeout=3s).
	URL string `json:"url,omitempty"`

	// Prefix starts every Redis key, so several gateways can share one Redis. Default
	// "stepup:".
	Prefix string `json:"prefix,omitempty"`

	// Replicas is how many replicas must acknowledge each security write before it
	// counts; fewer within WaitTimeout fail the request with 503. 0 never waits.
	// Default (unset): one whenever the write's master has a replica online, none when
	// it has none (a single server, or a replica promoted whose old master is gone).
	// Setting 1 also fails security writes closed while a master has no replica.
	Replicas *int `json:"replicas,omitempty"`

	// WaitTimeout bounds the wait for replicas, and so how long a security write
	// holds a request when a replica does not answer. It must be shorter than the
	// URL's read_timeout (3 s by default). Default 500ms.
	WaitTimeout caddy.Duration `json:"wait_timeout,omitempty"`

	st      store.Store
	release func() error
}

// CaddyModule returns the Caddy module information.
func (Redis) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "stepup.stores.redis",
		New: func() caddy.Module { return new(Redis) },
	}
}

// Provision sets the defaults and opens the store, or takes the one an earlier config
// opened with the same settings. It does not contact Redis.
func (r *Redis) Provision(ctx caddy.Context) error {
	if r.Prefix == "" {
		r.Prefix = "stepup:"
	}
	if r.WaitTimeout == 0 {
		r.WaitTimeout = caddy.Duration(store.DefaultWaitTimeout)
	}
	if err := r.Validate(); err != nil {
		return err
	}
	routeRedisLog.Do(func() { redis.SetLogger(redisLogger{caddy.Log().Named("stepup.redis")}) })
	url := caddy.NewReplacer().ReplaceKnown(r.URL, "")
	opts := store.RedisOptions{Prefix: r.Prefix, Replicas: store.AutoReplicas, WaitTimeout: time.Duration(r.WaitTimeout)}
	if r.Replicas != nil {
		opts.Replicas = *r.Replicas
	}
	key := fmt.Sprintf("redis:%s|%s|%d|%v", url, opts.Prefix, opts.Replicas, opts.WaitTimeout)
	st, release, err := Shared(key, func() (store.Store, error) {
		client, err := store.ParseRedisURL(url)
		if err != nil {
			return nil, err
		}
		s, err := store.NewRedisWith(client, opts)
		if err != nil {
			client.Close()
			return nil, err
		}
		return withClient{s, client}, nil
	})
	if err != nil {
		return fmt.Errorf("store redis: %v", err)
	}
	r.st, r.release = st, release
	return nil
}

// Validate checks the settings.
func (r *Redis) Validate() error {
	if r.URL == "" {
		return fmt.Errorf("store redis needs a URL, e.g. redis://127.0.0.1:6379/0")
	}
	if r.Replicas != nil && *r.Replicas < 0 {
		return fmt.Errorf("store redis: replicas must be 0 or more, got %d", *r.Replicas)
	}
	if r.WaitTimeout < 0 {
		return fmt.Errorf("store redis: wait_timeout must be positive, got %v", time.Duration(r.WaitTimeout))
	}
	return nil
}

// Store returns the store.
func (r *Redis) Store() store.Store { return r.st }

// Cleanup lets this config's hold on the store go; the last one closes the client.
func (r *Redis) Cleanup() error {
	if r.release == nil {
		return nil
	}
	return r.release()
}

// withClient is a Redis store that closes its client with it.
type withClient struct {
	*store.Redis
	client redis.UniversalClient
}

func (w withClient) Close() error {
	err := w.Redis.Close() // first: its subscriber uses the client
	if cerr := w.client.Close(); err == nil {
		err = cerr
	}
	return err
}

// UnmarshalCaddyfile reads
//
//	redis <url> [<key_prefix>] {
//	    prefix <key_prefix>
//	    replicas auto|<n>
//	    wait_timeout <duration>
//	}
//
// A URL without placeholders is checked here, so a bad one fails at load with the
// file and line.
func (r *Redis) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the store's name
	args := d.RemainingArgs()
	if len(args) < 1 || len(args) > 2 {
		return d.Err("expected `store redis <url> [<key_prefix>]`, e.g. `store redis redis://127.0.0.1:6379/0`")
	}
	r.URL = args[0]
	if len(args) == 2 {
		r.Prefix = args[1]
	}
	if !strings.Contains(r.URL, "{") {
		if err := store.CheckRedisURL(r.URL); err != nil {
			return d.Errf("store redis: %v", err)
		}
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "prefix":
			if r.Prefix != "" {
				return d.Err("store redis: the key prefix is given twice")
			}
			if !d.AllArgs(&r.Prefix) {
				return d.Err("expected `prefix <key_prefix>`")
			}
		case "replicas":
			var v string
			if !d.AllArgs(&v) {
				return d.Err("expected `replicas auto` or `replicas <number>`")
			}
			if v == "auto" {
				r.Replicas = nil
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return d.Errf("replicas: expected auto or a number of replicas (0 or more), got %q", v)
			}
			r.Replicas = &n
		case "wait_timeout":
			var v string
			if !d.AllArgs(&v) {
				return d.Err("expected `wait_timeout <duration>`, e.g. `wait_timeout 500ms`")
			}
			dur, err := caddy.ParseDuration(v)
			if err != nil || dur <= 0 {
				return d.Errf("wait_timeout: expected a positive duration such as 500ms, got %q", v)
			}
			r.WaitTimeout = caddy.Duration(dur)
		default:
			return d.Errf("unknown store redis subdirective %q (expected prefix, replicas or wait_timeout)", d.Val())
		}
	}
	return nil
}

// routeRedisLog routes go-redis's own messages (a failed dial, a reconnect) into
// Caddy's log at debug level: during an outage the handler's own error line says what
// matters, once per refused request, instead of one line per dial attempt on stderr.
var routeRedisLog sync.Once

type redisLogger struct{ l *zap.Logger }

func (r redisLogger) Printf(_ context.Context, format string, v ...any) {
	r.l.Debug(fmt.Sprintf(format, v...))
}

// Interface guards
var (
	_ Module                = (*Redis)(nil)
	_ caddy.Provisioner     = (*Redis)(nil)
	_ caddy.Validator       = (*Redis)(nil)
	_ caddy.CleanerUpper    = (*Redis)(nil)
	_ caddyfile.Unmarshaler = (*Redis)(nil)
)
