package sms

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/caddy-stepup/stepup/challenge"
)

func init() {
	caddy.RegisterModule(Log{})
}

// DefaultOutboxName is the outbox file's name in Caddy's data directory when no path is
// configured.
const DefaultOutboxName = "stepup-sms-outbox.jsonl"

// DefaultOutboxPath returns where the log provider writes when no outbox is
// configured: DefaultOutboxName in Caddy's data directory.
func DefaultOutboxPath() string {
	return filepath.Join(caddy.AppDataDir(), DefaultOutboxName)
}

// maxOutboxRead bounds how much of the end of an outbox ReadOutbox reads, in bytes.
const maxOutboxRead = 1 << 20

// outboxMu serializes outbox writes within the process: every Log module (old and new
// configurations during a reload) may write the same file.
var outboxMu sync.Mutex

// Log is the SMS provider "stepup.sms.log", FOR DEVELOPMENT AND DEMOS ONLY. It sends
// nothing: it writes each message — the verification code included — to the Caddy log
// (at INFO level) and appends it to a local outbox file, which the demo console can
// show. Anyone who can read that log or file can pass the second factor of every user.
// Never use it where the codes protect anything real.
//
// The outbox holds one JSON object per line: {"time": …, "to": …, "message": …}. The
// file is created readable by its owner only (0600).
type Log struct {
	// Outbox is the file messages are appended to. Placeholders known at provisioning
	// time are replaced. Default: stepup-sms-outbox.jsonl in Caddy's data directory.
	Outbox string `json:"outbox,omitempty"`

	path   string // Outbox with placeholders replaced, or the default
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Log) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "stepup.sms.log",
		New: func() caddy.Module { return new(Log) },
	}
}

// Provision sets the outbox path and the logger, and warns that codes will be logged.
func (l *Log) Provision(ctx caddy.Context) error {
	l.logger = ctx.Logger()
	l.path = caddy.NewReplacer().ReplaceKnown(l.Outbox, "")
	if l.path == "" {
		l.path = DefaultOutboxPath()
	}
	l.logger.Warn("sms (log provider): for development only; SMS codes are written to this log and the outbox, not sent",
		zap.String("outbox", l.path))
	return nil
}

// Validate has nothing to check: a bad outbox path shows on the first message.
func (l *Log) Validate() error { return nil }

// Path returns the outbox file the provider writes (after Provision).
func (l *Log) Path() string { return l.path }

// OutboxMessage is one message in an outbox.
type OutboxMessage struct {
	Time    time.Time `json:"time"`
	To      string    `json:"to"`
	Message string    `json:"message"`
}

// Send writes the message's text to the log, with its purpose and language, and
// appends the text to the outbox.
func (l *Log) Send(_ context.Context, m challenge.CodeMessage) error {
	l.logger.Info("sms (log provider): message not sent, written to the outbox",
		zap.String("to", m.To), zap.String("message", m.Text), zap.String("purpose", string(m.Purpose)),
		zap.String("lang", m.Lang), zap.String("outbox", l.path))
	line, err := json.Marshal(OutboxMessage{Time: time.Now().UTC(), To: m.To, Message: m.Text})
	if err != nil {
		return &SendError{Provider: "log", Err: err}
	}
	if err := appendOutbox(l.path, append(line, '\n')); err != nil {
		return &SendError{Provider: "log", Err: err}
	}
	return nil
}

// appendOutbox appends line to the outbox at path, creating it (and its directory) for
// the owner only.
func appendOutbox(path string, line []byte) error {
	outboxMu.Lock()
	defer outboxMu.Unlock()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("creating the outbox directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("opening the outbox: %w", err)
	}
	// The file holds codes: keep it private even if someone created it wider.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("restricting the outbox: %w", err)
	}
	if _, err := f.Write(line); err != nil {
		f.Close()
		return fmt.Errorf("writing the outbox: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing the outbox: %w", err)
	}
	return nil
}

// ReadOutbox returns the latest n messages of the outbox at path, latest first; n <= 0
// means all. A missing file is no messages. Only the last MiB of a large file is read,
// and lines that are not a message (a write cut short) are skipped.
func ReadOutbox(path string, n int) ([]OutboxMessage, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sms: opening the outbox: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("sms: reading the outbox: %w", err)
	}
	skipFirst := false
	if off := info.Size() - maxOutboxRead; off > 0 {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			return nil, fmt.Errorf("sms: reading the outbox: %w", err)
		}
		skipFirst = true // most likely the tail of a line
	}
	data, err := io.ReadAll(io.LimitReader(f, maxOutboxRead))
	if err != nil {
		return nil, fmt.Errorf("sms: reading the outbox: %w", err)
	}
	var msgs []OutboxMessage
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), maxOutboxRead)
	for sc.Scan() {
		if skipFirst {
			skipFirst = false
			continue
		}
		var m OutboxMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil || m.To == "" {
			continue
		}
		msgs = append(msgs, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("sms: reading the outbox: %w", err)
	}
	slices.Reverse(msgs)
	if n > 0 && len(msgs) > n {
		msgs = msgs[:n]
	}
	return msgs, nil
}

// UnmarshalCaddyfile sets up the provider from Caddyfile tokens. Syntax:
//
//	log [<outbox>]
//
// or with a block:
//
//	log {
//	    outbox <path>
//	}
//
// For development only: codes are written to the log and the outbox.
func (l *Log) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the provider name
	if d.NextArg() {
		l.Outbox = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "outbox":
			if l.Outbox != "" {
				return d.Err("sms log: outbox given twice")
			}
			if !d.NextArg() {
				return d.ArgErr()
			}
			l.Outbox = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		default:
			return d.Errf("unrecognized sms log option '%s'", d.Val())
		}
	}
	return nil
}

// Interface guards.
var (
	_ Provider              = (*Log)(nil)
	_ caddy.Module          = (*Log)(nil)
	_ caddy.Provisioner     = (*Log)(nil)
	_ caddy.Validator       = (*Log)(nil)
	_ caddyfile.Unmarshaler = (*Log)(nil)
)
