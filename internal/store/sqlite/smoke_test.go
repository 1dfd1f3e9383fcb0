package sqlite_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gantry/internal/store"
	"gantry/internal/store/dbtest"
)

func TestSmoke(t *testing.T) {
	s := dbtest.New(t)
	ctx := t.Context()
	u, err := s.InsertUser(ctx, store.User{Username: "Alice", Email: "a@x.io", Roles: []string{"owner", "member"}})
	require.NoError(t, err)
	_, err = s.InsertUser(ctx, store.User{Username: "alice", Email: "b@x.io"})
	require.ErrorIs(t, err, store.ErrConflict)
	t.Log(err)
	got, err := s.GetUserByID(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, u, got)
	k, err := s.InsertAPIKey(ctx, store.APIKey{ID: "abcdefghij", HashedSecret: make([]byte, 32), UserID: u.ID, ExpiresAt: time.Now().Add(time.Hour), LoginType: store.LoginTypeToken, TokenName: "t"})
	require.NoError(t, err)
	gk, err := s.GetAPIKeyByID(ctx, k.ID)
	require.NoError(t, err)
	require.Equal(t, k, gk)
	us, n, err := s.ListUsers(ctx, store.UserFilter{Role: "owner"})
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	require.Len(t, us, 1)
	o, err := s.DefaultOrganization(ctx)
	require.NoError(t, err)
	t.Log(o)
}
