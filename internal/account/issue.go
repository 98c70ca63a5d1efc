package account

import (
	"context"

	"switchboard/internal/store"
)

// CreateToken makes a personal API token for a user, as POST
// /api/v1/auth/tokens does for the signed-in person, and returns the token
// (it is stored only as a hash). Commands and benchmarks use it.
func (s *Service) CreateToken(ctx context.Context, userID, name string) (string, error) {
	token := TokenPrefix + randomString(32)
	t := store.UserToken{ID: newID(), TokenHash: hashToken(token), UserID: userID, Name: name, CreatedAt: s.now()}
	if err := s.st.CreateUserToken(ctx, t); err != nil {
		return "", err
	}
	return token, nil
}
