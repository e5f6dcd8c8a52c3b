package caddymodule

import (
	"fmt"

	"github.com/caddyserver/caddy/v2"

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
	h.store = val.(pooledStore).Store
	h.storeKey = key
	return nil
}
