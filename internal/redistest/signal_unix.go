//go:build unix

package redistest

import "syscall"

// Pause freezes the server (SIGSTOP), as a hung host would: connections stay open and
// nothing answers. Resume undoes it.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume lets a paused server run again (SIGCONT).
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		s.t.Fatalf("redistest: signal to a stopped server")
	}
	if err := s.proc.Signal(sig); err != nil {
		s.t.Fatalf("redistest: %v", err)
	}
}
