//go:build !unix

package redistest

// Pause freezes the server where signals allow it; elsewhere the test is skipped.
func (s *Server) Pause() { s.t.Skip("redistest: Pause needs SIGSTOP") }

// Resume lets a paused server run again.
func (s *Server) Resume() {}
