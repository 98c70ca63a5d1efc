package signal

import (
	"time"

	"switchboard/internal/peer"
	"switchboard/internal/protocol"
)

// grace is a participant whose socket dropped: it stays in its room until the timer fires.
type grace struct {
	timer *time.Timer
	perms protocol.Permissions
}

// startGrace keeps a participant whose socket dropped in the room for ResumeGrace.
func (s *Server) startGrace(token string, p *peer.Peer, perms protocol.Permissions) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions[token] != p {
		return
	}
	if s.graces == nil {
		s.graces = map[string]*grace{}
	}
	g := &grace{perms: perms}
	g.timer = time.AfterFunc(s.cfg.ResumeGrace, func() {
		s.mu.Lock()
		if s.graces[token] != g {
			s.mu.Unlock()
			return
		}
		delete(s.graces, token)
		delete(s.sessions, token)
		delete(s.perms, token)
		delete(s.accounts, token)
		s.mu.Unlock()
		s.cfg.Logger.Info("participant did not come back", "participant", p.ID())
		p.Leave("disconnected")
	})
	s.graces[token] = g
}

// takeOver claims a dropped session for a new socket.
func (s *Server) takeOver(token string) (*peer.Peer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.sessions[token]
	if !ok {
		return nil, false
	}
	select {
	case <-p.Done():
		delete(s.sessions, token)
		return nil, false
	default:
	}
	if g, ok := s.graces[token]; ok {
		g.timer.Stop()
		delete(s.graces, token)
	}
	return p, true
}

func (s *Server) permsOf(token string) (protocol.Permissions, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.perms[token], s.accounts[token]
}

// forget drops a participant that has left from the session table.
func (s *Server) forget(p *peer.Peer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for token, q := range s.sessions {
		if q == p {
			delete(s.sessions, token)
			delete(s.perms, token)
			delete(s.accounts, token)
			if g, ok := s.graces[token]; ok {
				g.timer.Stop()
				delete(s.graces, token)
			}
		}
	}
}

// SessionRoom tells which participant and room a session token belongs to (for file uploads).
func (s *Server) SessionRoom(token string) (participant, room string, ok bool) {
	p, ok := s.Participant(token)
	if !ok {
		return "", "", false
	}
	return p.ID(), p.Room().ID(), true
}
