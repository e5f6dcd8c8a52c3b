package democonsole

import (
	"crypto/rand"
	"encoding/base64"
	"sync"
	"time"
)

// sessionTTL is how long a console session lives after login. The console
// has no idle timeout; the gateway in front of it decides how fresh a
// second factor must be.
const sessionTTL = 12 * time.Hour

// session is one signed-in browser or API client.
type session struct {
	user    string
	expires time.Time
}

// sessionStore maps random session ids to user names. It is safe for
// concurrent use.
type sessionStore struct {
	mu   sync.Mutex
	byID map[string]session
	now  func() time.Time
}

func newSessionStore() *sessionStore {
	return &sessionStore{byID: make(map[string]session), now: time.Now}
}

// newSessionID returns 256 random bits, URL-safe base64 without padding.
func newSessionID() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// create starts a session for user and returns its id. Expired sessions are
// swept on the way, so the map cannot grow without bound over a long demo.
func (s *sessionStore) create(user string) string {
	id := newSessionID()
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for k, v := range s.byID {
		if !now.Before(v.expires) {
			delete(s.byID, k)
		}
	}
	s.byID[id] = session{user: user, expires: now.Add(sessionTTL)}
	return id
}

// lookup returns the user signed in under id, if the session exists and has
// not expired.
func (s *sessionStore) lookup(id string) (string, bool) {
	if id == "" {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.byID[id]
	if !ok {
		return "", false
	}
	if !s.now().Before(sess.expires) {
		delete(s.byID, id)
		return "", false
	}
	return sess.user, true
}

// remove ends the session id; unknown ids are ignored.
func (s *sessionStore) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID, id)
}

// count reports the number of stored sessions (for tests).
func (s *sessionStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}
