package democonsole

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/caddy-stepup/stepup/notify"
)

// This file is the console's side of the gateway's security notices in the demo: the
// gateway's webhook notifier (stepup.notify.webhook) POSTs each notice to
// /demo/notices, as it would to an operator's e-mail or chat relay; the console checks
// the signature as such a relay must, keeps the latest, and lists them at /notices, as
// it lists the SMS outbox.

// NoticesPath is where the console receives the gateway's notices.
const NoticesPath = "/demo/notices"

// noticesSize is how many notices the console keeps and shows.
const noticesSize = 50

// maxNoticeBody bounds a notice's body.
const maxNoticeBody = 64 << 10

// ReceivedNotice is a security notice as the console received it.
type ReceivedNotice struct {
	notify.Notice
	Received time.Time
}

// noticeBox keeps the latest notices, latest first, each once: a retry of a notice
// already taken (the same id) is not kept twice.
type noticeBox struct {
	mu   sync.Mutex
	list []ReceivedNotice
}

func (b *noticeBox) add(n ReceivedNotice) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if slices.ContainsFunc(b.list, func(x ReceivedNotice) bool { return x.ID == n.ID }) {
		return
	}
	b.list = append([]ReceivedNotice{n}, b.list...)
	if len(b.list) > noticesSize {
		b.list = b.list[:noticesSize]
	}
}

func (b *noticeBox) latest() []ReceivedNotice {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.list)
}

// withNotices makes the console take notices signed with secret at NoticesPath and
// show them at /notices.
func (c *Console) withNotices(secret []byte) *Console {
	c.noticeSecret = secret
	c.mux = c.routes()
	return c
}

// receiveNotice serves POST /demo/notices: a notice from the gateway, taken only when
// its signature verifies (over this body, within five minutes of now).
func (c *Console) receiveNotice(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxNoticeBody))
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "notice too large"})
		return
	}
	if err := notify.Verify(c.noticeSecret, r.Header.Get(notify.SignatureHeader), body, time.Now(), notify.DefaultTolerance); err != nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "bad signature"})
		return
	}
	var n notify.Notice
	if err := json.Unmarshal(body, &n); err != nil || n.ID == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "not a notice"})
		return
	}
	c.notices.add(ReceivedNotice{Notice: n, Received: time.Now().UTC()})
	w.WriteHeader(http.StatusNoContent)
}

// noticesPage serves GET /notices: the latest notices received. Like the SMS outbox it
// is a development aid and needs no session.
func (c *Console) noticesPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, http.StatusOK, "notices", pageData{Page: "Security notices (development)", OutboxLink: c.outbox != "",
		NoticesLink: true, Notices: c.notices.latest()})
}
