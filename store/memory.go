package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// now is the clock of the memory store; tests replace it to move time.
var now = time.Now

// sweepEvery is how often a write also removes every expired record and grant. Between
// sweeps expired entries are invisible (every read checks expiry) but take memory.
const sweepEvery = 30 * time.Second

// Memory is a Store held in this process: the embedded default for a single gateway
// instance. Its state is lost when the process ends, except durable records when a file
// is configured (see NewMemory). It is not shared between processes, so every instance
// behind a load balancer needs Redis instead.
//
// The context arguments are ignored: no operation waits for anything but a mutex and,
// for durable changes, the file write.
type Memory struct {
	mu        sync.RWMutex
	records   map[Key]record
	grants    map[string]map[string]grant // user → grant id → grant
	closed    bool
	lastSweep time.Time
	changes   uint64 // counts durable changes, for file writes (under mu)

	file *memoryFile // nil without a file
}

// A record is a value and when it expires; the zero time means never (durable).
type record struct {
	value   []byte // never modified after it is stored, so it can be shared
	expires time.Time
}

func (r record) durable() bool         { return r.expires.IsZero() }
func (r record) live(t time.Time) bool { return r.expires.IsZero() || t.Before(r.expires) }

// A grant is a tracked Grant without the fields its map keys already hold.
type grant struct {
	session string
	expires time.Time
}

func (g grant) live(t time.Time) bool { return t.Before(g.expires) }

// expiry returns when a record written at t with ttl expires: never for a ttl of 0.
func expiry(t time.Time, ttl time.Duration) time.Time {
	if ttl == 0 {
		return time.Time{}
	}
	return t.Add(ttl)
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty memory store. With a non-empty path, durable records
// (Put with ttl 0, Advance numbers, Incr counters without a window) are loaded from
// that file and written back to it, readable by the owner only, before each call that
// changes one returns. Short-lived records, windowed counters and grants are not kept
// in the file: after a restart users sign in and step up again.
//
// One process at a time may use a file. A missing file is created on the first durable
// change (with its directory); a file that cannot be read or parsed is an error, so a
// damaged file never silently drops second-factor bindings.
func NewMemory(path string) (*Memory, error) {
	m := &Memory{
		records:   make(map[Key]record),
		grants:    make(map[string]map[string]grant),
		lastSweep: now(),
	}
	if path == "" {
		return m, nil
	}
	f, records, err := openMemoryFile(path)
	if err != nil {
		return nil, err
	}
	m.file = f
	for k, v := range records {
		m.records[k] = record{value: v}
	}
	return m, nil
}

// errClosed is returned by every method after Close.
var errClosed = fmt.Errorf("%w: store closed", ErrUnavailable)

// invalid reports a caller's mistake. The Store contract has only two errors, and
// failing closed is right for a bug too, so it wraps ErrUnavailable.
func invalid(what string) error {
	return fmt.Errorf("%w: invalid argument: %s", ErrUnavailable, what)
}

// Ping reports whether the store is open.
func (m *Memory) Ping(context.Context) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return errClosed
	}
	return nil
}

// Get returns the record at key, or ErrNotFound.
func (m *Memory) Get(_ context.Context, key Key) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, errClosed
	}
	r, ok := m.records[key]
	if !ok || !r.live(now()) {
		return nil, ErrNotFound
	}
	return slices.Clone(r.value), nil
}

// Put stores value at key; a ttl of 0 makes it durable.
func (m *Memory) Put(_ context.Context, key Key, value []byte, ttl time.Duration) error {
	if ttl < 0 {
		return invalid("negative ttl")
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return errClosed
	}
	t := m.writeClock()
	old, had := m.records[key]
	r := record{value: cloneValue(value), expires: expiry(t, ttl)}
	m.records[key] = r
	change := m.durableChange(had && old.durable() || r.durable())
	m.mu.Unlock()
	return m.save(change)
}

// PutNew stores value at key unless a live record is there, and reports whether it did.
func (m *Memory) PutNew(_ context.Context, key Key, value []byte, ttl time.Duration) (bool, error) {
	if ttl < 0 {
		return false, invalid("negative ttl")
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return false, errClosed
	}
	t := m.writeClock()
	if old, ok := m.records[key]; ok && old.live(t) {
		m.mu.Unlock()
		return false, nil
	}
	r := record{value: cloneValue(value), expires: expiry(t, ttl)}
	m.records[key] = r
	change := m.durableChange(r.durable())
	m.mu.Unlock()
	return true, m.save(change)
}

// Take returns the record at key and deletes it, or ErrNotFound.
func (m *Memory) Take(_ context.Context, key Key) ([]byte, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, errClosed
	}
	t := m.writeClock()
	r, ok := m.records[key]
	if !ok || !r.live(t) {
		m.mu.Unlock()
		return nil, ErrNotFound
	}
	delete(m.records, key)
	change := m.durableChange(r.durable())
	m.mu.Unlock()
	// The value was never handed out and is gone from the map, so no copy is needed.
	return r.value, m.save(change)
}

// Delete removes the records at keys.
func (m *Memory) Delete(_ context.Context, keys ...Key) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return errClosed
	}
	m.writeClock()
	durable := false
	for _, k := range keys {
		if r, ok := m.records[k]; ok {
			durable = durable || r.durable()
			delete(m.records, k)
		}
	}
	change := m.durableChange(durable)
	m.mu.Unlock()
	return m.save(change)
}

// Incr adds one to the counter at key. Like Redis INCR, the record must hold a decimal
// integer (or be absent), and the window starts when the count becomes 1.
func (m *Memory) Incr(_ context.Context, key Key, window time.Duration) (int64, error) {
	if window < 0 {
		return 0, invalid("negative window")
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return 0, errClosed
	}
	t := m.writeClock()
	r, ok := m.records[key]
	if !ok || !r.live(t) {
		r = record{}
	}
	n, err := parseCount(r.value)
	if err != nil || n == math.MaxInt64 {
		m.mu.Unlock()
		return 0, invalid("incr of a record that is not a counter or would overflow")
	}
	n++
	if n == 1 {
		r.expires = expiry(t, window)
	}
	r.value = strconv.AppendInt(nil, n, 10)
	m.records[key] = r
	change := m.durableChange(r.durable())
	m.mu.Unlock()
	return n, m.save(change)
}

// Advance raises the number at key to n if n is greater, and reports whether it did.
func (m *Memory) Advance(_ context.Context, key Key, n int64) (bool, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return false, errClosed
	}
	t := m.writeClock()
	if r, ok := m.records[key]; ok && r.live(t) {
		cur, err := strconv.ParseInt(string(r.value), 10, 64)
		if err != nil {
			m.mu.Unlock()
			return false, invalid("advance of a record that is not a number")
		}
		if n <= cur {
			m.mu.Unlock()
			return false, nil
		}
	}
	m.records[key] = record{value: strconv.AppendInt(nil, n, 10)}
	change := m.durableChange(true)
	m.mu.Unlock()
	return true, m.save(change)
}

// Track records g as live until g.Expires (kept at millisecond precision, as in Redis).
// A grant that has already expired ends any grant of the same id.
func (m *Memory) Track(_ context.Context, g Grant) error {
	if g.ID == "" {
		return invalid("grant without id")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errClosed
	}
	t := m.writeClock()
	gs := m.grants[g.User]
	pruneGrants(gs, t) // keeps a long-lived user's map from growing between sweeps
	exp := time.UnixMilli(g.Expires.UnixMilli())
	if !t.Before(exp) {
		delete(gs, g.ID)
		return nil
	}
	if gs == nil {
		gs = make(map[string]grant)
		m.grants[g.User] = gs
	}
	gs[g.ID] = grant{session: g.Session, expires: exp}
	return nil
}

// Live reports whether every one of ids is a live grant of user. With no ids it
// reports false, so a caller that forgot to pass any is not let through.
func (m *Memory) Live(_ context.Context, user string, ids ...string) (bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return false, errClosed
	}
	gs := m.grants[user]
	if len(ids) == 0 || gs == nil {
		return false, nil
	}
	t := now()
	for _, id := range ids {
		if g, ok := gs[id]; !ok || !g.live(t) {
			return false, nil
		}
	}
	return true, nil
}

// Revoke ends the grant id of user and every grant of user whose Session is id.
func (m *Memory) Revoke(_ context.Context, user, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errClosed
	}
	m.writeClock()
	gs := m.grants[user]
	for gid, g := range gs {
		if gid == id || g.session == id {
			delete(gs, gid)
		}
	}
	if len(gs) == 0 {
		delete(m.grants, user)
	}
	return nil
}

// RevokeUser ends every grant of user.
func (m *Memory) RevokeUser(_ context.Context, user string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errClosed
	}
	m.writeClock()
	delete(m.grants, user)
	return nil
}

// Grants lists the live grants of user, soonest to expire first.
func (m *Memory) Grants(_ context.Context, user string) ([]Grant, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, errClosed
	}
	t := now()
	var out []Grant
	for id, g := range m.grants[user] {
		if g.live(t) {
			out = append(out, Grant{User: user, ID: id, Session: g.session, Expires: g.expires})
		}
	}
	sortGrants(out)
	return out, nil
}

// Close empties the store; later calls fail with ErrUnavailable. Durable records are
// already in the file, since every change is written before its call returns.
//
// Close waits for a file write in progress, and a change that was not yet written
// fails its call, so a store opened next on the same file never sees an old write
// land on top of its own.
func (m *Memory) Close() error {
	if m.file != nil {
		// Lock order as in save: file, then records.
		m.file.mu.Lock()
		defer m.file.mu.Unlock()
		m.file.closed = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.records, m.grants = nil, nil
	return nil
}

// writeClock returns the time for a write and, at most every sweepEvery, first drops
// everything expired. Sweeping on writes instead of in a goroutine means an idle or
// closed store costs nothing and nothing needs stopping. Call with mu held.
func (m *Memory) writeClock() time.Time {
	t := now()
	if t.Sub(m.lastSweep) < sweepEvery {
		return t
	}
	m.lastSweep = t
	for k, r := range m.records {
		if !r.live(t) {
			delete(m.records, k)
		}
	}
	for user, gs := range m.grants {
		if pruneGrants(gs, t); len(gs) == 0 {
			delete(m.grants, user)
		}
	}
	return t
}

// durableChange notes a change to the durable records when changed is true and returns
// the change's sequence number for save; 0 means nothing to save. Call with mu held.
func (m *Memory) durableChange(changed bool) uint64 {
	if !changed || m.file == nil {
		return 0
	}
	m.changes++
	return m.changes
}

// save writes the durable records to the file unless change is 0 or a write that
// already covered change has finished. Call without mu held.
func (m *Memory) save(change uint64) error {
	if change == 0 {
		return nil
	}
	return m.file.save(change, m.snapshot)
}

// snapshot returns the durable records and the number of the last change they include.
func (m *Memory) snapshot() (map[Key][]byte, uint64) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make(map[Key][]byte)
	for k, r := range m.records {
		if r.durable() {
			out[k] = r.value
		}
	}
	return out, m.changes
}

// pruneGrants drops the expired grants from gs.
func pruneGrants(gs map[string]grant, t time.Time) {
	for id, g := range gs {
		if !g.live(t) {
			delete(gs, id)
		}
	}
}

// sortGrants orders grants soonest to expire first, then by id, so listings are stable.
func sortGrants(gs []Grant) {
	slices.SortFunc(gs, func(a, b Grant) int {
		if c := a.Expires.Compare(b.Expires); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// parseCount reads a counter; an absent record counts as 0.
func parseCount(v []byte) (int64, error) {
	if v == nil {
		return 0, nil
	}
	return strconv.ParseInt(string(v), 10, 64)
}

// cloneValue copies value so the caller may reuse its slice; nil stays an empty
// record, not an absent one.
func cloneValue(v []byte) []byte {
	return append(make([]byte, 0, len(v)), v...)
}

// memoryFile keeps the memory store's durable records in a JSON file. Each save writes
// the whole set to a temporary file in the same directory, syncs it and renames it over
// the old one, so a crash leaves either the old or the new file, never a torn one.
type memoryFile struct {
	path   string
	mu     sync.Mutex // one write at a time; held before Memory.mu, never after
	saved  uint64     // the last change number the file holds (under mu)
	closed bool       // set by Memory.Close (under mu)
}

// fileVersion is the format of the file; a file of another version is refused.
const fileVersion = 1

type fileContent struct {
	Version int          `json:"version"`
	Records []fileRecord `json:"records"`
}

type fileRecord struct {
	Scope string `json:"scope"`
	Name  string `json:"name"`
	Value []byte `json:"value"` // base64, since values are bytes
}

// openMemoryFile reads the records at path; a missing file holds none.
func openMemoryFile(path string) (*memoryFile, map[Key][]byte, error) {
	f := &memoryFile{path: path}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("stepup/store: reading memory store file: %w", err)
	}
	var c fileContent
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, nil, fmt.Errorf("stepup/store: memory store file %s is damaged: %v", path, err)
	}
	if c.Version != fileVersion {
		return nil, nil, fmt.Errorf("stepup/store: memory store file %s has version %d, want %d", path, c.Version, fileVersion)
	}
	records := make(map[Key][]byte, len(c.Records))
	for _, r := range c.Records {
		if r.Value == nil {
			r.Value = []byte{} // an empty record, not an absent one
		}
		records[Key{Scope: r.Scope, Name: r.Name}] = r.Value
	}
	return f, records, nil
}

// save writes the records returned by snapshot unless the file already holds change.
// Callers that arrive while a write is running wait for it and then find their change
// covered by the next one, so concurrent changes share writes (group commit).
func (f *memoryFile) save(change uint64, snapshot func() (map[Key][]byte, uint64)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.saved >= change {
		return nil
	}
	if f.closed {
		return errClosed
	}
	records, upTo := snapshot()
	if err := f.write(records); err != nil {
		// The change stays in memory; the caller learns the file is behind.
		return fmt.Errorf("%w: writing memory store file: %v", ErrUnavailable, err)
	}
	f.saved = upTo
	return nil
}

func (f *memoryFile) write(records map[Key][]byte) error {
	c := fileContent{Version: fileVersion, Records: make([]fileRecord, 0, len(records))}
	for k, v := range records {
		c.Records = append(c.Records, fileRecord{Scope: k.Scope, Name: k.Name, Value: v})
	}
	// A stable order keeps the file diffable and its writes reproducible.
	slices.SortFunc(c.Records, func(a, b fileRecord) int {
		return cmp.Or(strings.Compare(a.Scope, b.Scope), strings.Compare(a.Name, b.Name))
	})
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	dir := filepath.Dir(f.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(f.path)+".*.tmp") // created 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	_, err = tmp.Write(b)
	if err == nil {
		// Without the sync a power loss after the rename could leave an empty file
		// where the bindings were.
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), f.path)
}
