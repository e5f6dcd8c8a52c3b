package store

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// ParseRedisURL returns a client for a Redis URL:
//
//	redis://[user:password@]host:port[/db][?options]          one server
//	rediss://...                                              one server over TLS
//	unix://[user:password@]/path/to/redis.sock[?db=N]         one server, Unix socket
//	redis+sentinel://[user:password@]host:port[/db]?master_name=NAME[&addr=host:port...]
//	redis+cluster://[user:password@]host:port[?addr=host:port...]
//
// with rediss+sentinel and rediss+cluster for TLS. In a Sentinel URL the user
// information authenticates to the sentinels and the "username" and "password" options
// to the master. Options are go-redis's, in snake case (dial_timeout=2s,
// pool_size=20, ...).
//
// Two defaults differ from go-redis's, so that an unreachable Redis makes the gateway
// answer 503 promptly instead of holding requests: context deadlines bound every call
// (context_timeout_enabled=true) and a connection is dialled once per try rather than
// five times (dialer_retries=1). The URL can set either. A Cluster client also dials
// for at most a second (dial_timeout=1s, which the URL can set) and follows a
// failover at once (see watchCluster).
//
// The error never contains the URL, which may hold a password. The caller owns the
// client and closes it.
func ParseRedisURL(raw string) (client redis.UniversalClient, err error) {
	if _, err := url.Parse(raw); err != nil {
		// Not even url.Parse's reason: a password holding # / or ? is misread as the
		// host, and the reason ("invalid port \":s3cr\"") then quotes part of it.
		return nil, errors.New("stepup/store: invalid redis URL: it does not parse as a URL (percent-encode any of : / ? # @ in the password)")
	}
	u, _ := url.Parse(raw)
	scheme := u.Scheme
	base, kind, _ := strings.Cut(scheme, "+")

	// The two options whose defaults differ are read here, because go-redis's parsers
	// do not all know them.
	q := u.Query()
	ctxTimeout, dialerRetries := true, 1
	if q.Has("context_timeout_enabled") {
		if ctxTimeout, err = strconv.ParseBool(q.Get("context_timeout_enabled")); err != nil {
			return nil, errors.New("stepup/store: invalid redis URL: context_timeout_enabled must be true or false")
		}
		q.Del("context_timeout_enabled")
	}
	if q.Has("dialer_retries") {
		if dialerRetries, err = strconv.Atoi(q.Get("dialer_retries")); err != nil || dialerRetries < 1 {
			return nil, errors.New("stepup/store: invalid redis URL: dialer_retries must be a positive number")
		}
		q.Del("dialer_retries")
	}
	dialTimeoutSet := q.Has("dial_timeout")
	u.RawQuery = q.Encode()
	u.Scheme = base
	plain := u.String()

	// go-redis constructors panic on some out-of-range options (a pool size beyond
	// int32); a bad URL must be a configuration error, not a crash.
	defer func() {
		if p := recover(); p != nil {
			client, err = nil, fmt.Errorf("stepup/store: invalid redis URL: %v", p)
		}
	}()

	switch {
	case kind == "" && (base == "redis" || base == "rediss" || base == "unix"):
		o, err := redis.ParseURL(plain)
		if err != nil {
			return nil, parseErr(err)
		}
		o.ContextTimeoutEnabled, o.DialerRetries = ctxTimeout, dialerRetries
		return redis.NewClient(o), nil
	case kind == "sentinel" && (base == "redis" || base == "rediss"):
		o, err := redis.ParseFailoverURL(plain)
		if err != nil {
			return nil, parseErr(err)
		}
		if o.MasterName == "" {
			return nil, errors.New("stepup/store: invalid redis URL: a sentinel URL needs master_name")
		}
		o.ContextTimeoutEnabled, o.DialerRetries = ctxTimeout, dialerRetries
		return redis.NewFailoverClient(o), nil
	case kind == "cluster" && (base == "redis" || base == "rediss"):
		o, err := redis.ParseClusterURL(plain)
		if err != nil {
			return nil, parseErr(err)
		}
		o.ContextTimeoutEnabled, o.DialerRetries = ctxTimeout, dialerRetries
		if !dialTimeoutSet {
			o.DialTimeout = clusterDialTimeout
		}
		return watchCluster(o), nil
	}
	return nil, fmt.Errorf("stepup/store: invalid redis URL: unknown scheme %q (want redis, rediss, unix, redis+sentinel, redis+cluster or their rediss+ forms)", scheme)
}

// parseErr reports a go-redis URL error, whose text names the bad part, not the URL.
func parseErr(err error) error {
	return fmt.Errorf("stepup/store: invalid redis URL: %v", err)
}

// CheckRedisURL reports whether ParseRedisURL accepts raw, without contacting Redis.
func CheckRedisURL(raw string) error {
	c, err := ParseRedisURL(raw)
	if err != nil {
		return err
	}
	return c.Close()
}
