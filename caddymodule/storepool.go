package caddymodule

import (
	"context"
	"fmt"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/store"
)

// stores shares one store (and its Redis connections) between the configs that use
// it, so a config reload neither drops in-memory state nor leaks connections.
var stores = caddy.NewUsagePool()

// pooledStore closes the store, and the Redis client under it, when the last config
// using it is cleaned up.
type pooledStore struct {
	store.Store
	closeClient func() error
}

func (p pooledStore) Destruct() error {
	err := p.Store.Close()
	if p.closeClient != nil {
		if cerr := p.closeClient(); err == nil {
			err = cerr
		}
	}
	return err
}

// redisLog routes go-redis's own messages (a failed dial, a reconnect) into Caddy's log
// at debug level: during an outage the module's own error line says what matters,
// once per refused request, instead of one line per dial attempt on stderr.
var redisLog sync.Once

type redisLogger struct{ l *zap.Logger }

func (r redisLogger) Printf(_ context.Context, format string, v ...any) {
	r.l.Debug(fmt.Sprintf(format, v...))
}

func (h *Handler) openStore() error {
	cfg := h.Store
	var key string
	var construct caddy.Constructor
	switch cfg.Backend {
	case "memory":
		file := caddy.NewReplacer().ReplaceKnown(cfg.File, "")
		key = "memory:" + file
		construct = func() (caddy.Destructor, error) {
			m, err := store.NewMemory(file)
			if err != nil {
				return nil, err
			}
			return pooledStore{Store: m}, nil
		}
	case "redis":
		redisLog.Do(func() { redis.SetLogger(redisLogger{caddy.Log().Named("stepup.redis")}) })
		url := caddy.NewReplacer().ReplaceKnown(cfg.URL, "")
		key = "redis:" + url + "|" + cfg.Prefix
		construct = func() (caddy.Destructor, error) {
			client, err := store.ParseRedisURL(url)
			if err != nil {
				return nil, err
			}
			return pooledStore{Store: store.NewRedis(client, cfg.Prefix), closeClient: client.Close}, nil
		}
	default:
		return fmt.Errorf("stepup: unknown store %q (expected memory or redis)", cfg.Backend)
	}
	val, _, err := stores.LoadOrNew(key, construct)
	if err != nil {
		return fmt.Errorf("stepup: store %s: %v", cfg.Backend, err)
	}
	h.store = timeStore(val.(pooledStore).Store) // timed for metrics; the pool keeps the store itself
	h.storeKey = key
	return nil
}
