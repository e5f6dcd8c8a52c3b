package stores

import (
	"reflect"
	"sync"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-stepup/stepup/store"
)

// pool holds the stores in use, by key, with the number of configs using each.
var pool = caddy.NewUsagePool()

// pooled closes a store when the last config using it lets it go.
type pooled struct{ store.Store }

func (p pooled) Destruct() error { return p.Close() }

// Shared returns the store known by key, made by open unless a config holds it
// already, and the function that lets it go (call it from Cleanup; calling it again
// does nothing). The store is closed when the last config using it lets it go.
//
// A config reload provisions the new config before it cleans up the old one, so a
// store whose key stays the same passes from one to the next with its state, its
// connections and its goroutines: a reload neither drops state nor leaks them. The key
// must hold everything that makes two stores differ (a file, a URL and a prefix).
func Shared(key string, open func() (store.Store, error)) (store.Store, func() error, error) {
	val, _, err := pool.LoadOrNew(key, func() (caddy.Destructor, error) {
		s, err := open()
		if err != nil {
			return nil, err
		}
		return pooled{s}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	var once sync.Once
	release := func() (err error) {
		once.Do(func() { _, err = pool.Delete(key) })
		return err
	}
	return val.(pooled).Store, release, nil
}

// InUse returns the stores that configs hold now (every one made through Shared), for
// health checks and metrics.
func InUse() []store.Store {
	var out []store.Store
	pool.Range(func(_, v any) bool {
		if p, ok := v.(pooled); ok {
			out = append(out, p.Store)
		}
		return true
	})
	return out
}

// Retain takes one more hold on st, a store made through Shared that a config holds,
// so that it stays open until release is called too, whichever hold goes last. The
// stepup handler holds its store this way: Caddy cleans a config's modules up in no
// set order, and the handler still writes to the store as it stops. Retain reports
// false for a store that Shared did not make, or that nothing holds.
func Retain(st store.Store) (release func() error, ok bool) {
	if st == nil || !reflect.TypeOf(st).Comparable() {
		return nil, false
	}
	var key any
	pool.Range(func(k, v any) bool {
		if p, isPooled := v.(pooled); isPooled && p.Store == st {
			key = k
			return false
		}
		return true
	})
	if key == nil {
		return nil, false
	}
	if _, loaded := pool.LoadOrStore(key, pooled{st}); !loaded {
		// Let go of meanwhile: undo the entry just made (the store is closed already).
		_, _ = pool.Delete(key)
		return nil, false
	}
	var once sync.Once
	return func() (err error) {
		once.Do(func() { _, err = pool.Delete(key) })
		return err
	}, true
}
