package gateway

import (
	"bytes"
	"net/http"
)

// loginCapture stands between the console and the client on the login route. When
// the console's answer looks like a successful login (decided from the status and
// headers, before any byte is sent), it is kept whole in memory, up to a limit, for
// the gateway to release, add to or hold; any other answer streams straight through
// untouched. The console's headers go to a map of the capture's own, so nothing of a
// kept answer (no Set-Cookie, no Location) can reach the client by accident.
// Informational answers (103 Early Hints) are dropped: they may carry the session
// of a login that is about to be held.
type loginCapture struct {
	w         http.ResponseWriter
	header    http.Header
	isSuccess func(status int, h http.Header) bool
	limit     int
	// userHeader is the response header naming the user (LoginConfig.UserHeader):
	// taken from every answer, never passed on.
	userHeader string
	users      []string

	wroteHeader bool
	kept        bool // a successful login, kept in buf
	overflow    bool // kept, but larger than limit
	status      int
	buf         bytes.Buffer
}

func newLoginCapture(w http.ResponseWriter, limit int, isSuccess func(int, http.Header) bool, userHeader string) *loginCapture {
	return &loginCapture{w: w, header: make(http.Header), isSuccess: isSuccess, limit: limit, userHeader: userHeader}
}

func (c *loginCapture) Header() http.Header { return c.header }

func (c *loginCapture) WriteHeader(status int) {
	if c.wroteHeader {
		return
	}
	if status >= 100 && status < 200 {
		return
	}
	c.wroteHeader = true
	c.status = status
	if c.userHeader != "" {
		c.users = c.header.Values(c.userHeader)
		c.header.Del(c.userHeader)
	}
	if c.isSuccess(status, c.header) {
		c.kept = true
		return
	}
	copyHeader(c.w.Header(), c.header)
	c.w.WriteHeader(status)
}

func (c *loginCapture) Write(p []byte) (int, error) {
	if !c.wroteHeader {
		c.WriteHeader(http.StatusOK)
	}
	if !c.kept {
		return c.w.Write(p)
	}
	if c.buf.Len()+len(p) > c.limit {
		c.overflow = true
		return len(p), nil // drop: the kept answer is refused as a whole
	}
	return c.buf.Write(p)
}

// FlushError passes flushes through only for answers that stream; flushing a kept
// answer would send its status and headers early.
func (c *loginCapture) FlushError() error {
	if c.kept || !c.wroteHeader {
		return nil
	}
	return http.NewResponseController(c.w).Flush()
}

// Unwrap lets http.ResponseController reach the real writer for deadlines.
func (c *loginCapture) Unwrap() http.ResponseWriter { return c.w }

// release writes the kept answer as the console sent it, with extra cookies.
func (c *loginCapture) release(extra ...*http.Cookie) error {
	dst := c.w.Header()
	copyHeader(dst, c.header)
	for _, ck := range extra {
		dst.Add("Set-Cookie", ck.String())
	}
	c.w.WriteHeader(c.status)
	_, err := c.w.Write(c.buf.Bytes())
	return err
}

func copyHeader(dst, src http.Header) {
	for k, v := range src {
		dst[k] = append([]string(nil), v...)
	}
}
