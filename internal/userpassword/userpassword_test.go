package userpassword_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"gantry/internal/userpassword"
)

func TestHashCompare(t *testing.T) {
	t.Parallel()
	h := userpassword.NewHasher(userpassword.Params{})
	hash, err := h.Hash("correct horse Battery 9")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$"), hash)
	require.NotContains(t, hash, "correct horse")

	ok, err := userpassword.Compare(hash, "correct horse Battery 9")
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = userpassword.Compare(hash, "correct horse Battery 8")
	require.NoError(t, err)
	require.False(t, ok)

	// The same password hashes differently each time (fresh salt).
	again, err := h.Hash("correct horse Battery 9")
	require.NoError(t, err)
	require.NotEqual(t, hash, again)

	// Hashes made with other parameters still verify.
	cheap := userpassword.NewHasher(userpassword.Params{Memory: 64, Time: 1, Threads: 1})
	hash2, err := cheap.Hash("pw")
	require.NoError(t, err)
	ok, err = userpassword.Compare(hash2, "pw")
	require.NoError(t, err)
	require.True(t, ok)
}

func TestCompareMalformed(t *testing.T) {
	t.Parallel()
	for _, h := range []string{
		"", "plain", "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ", "$bcrypt$x$y$z$w",
		"$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$c2FsdHNhbHRzYWx0c2FsdHNhbHRzYWx0",
		"$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHRzYWx0$c2FsdHNhbHRzYWx0c2FsdHNhbHRzYWx0",
		"$argon2id$v=19$m=64,t=1000,p=1$c2FsdHNhbHRzYWx0$c2FsdHNhbHRzYWx0c2FsdHNhbHRzYWx0",
		"$argon2id$v=19$m=64,t=1,p=1$!!!$c2FsdHNhbHRzYWx0c2FsdHNhbHRzYWx0",
	} {
		ok, err := userpassword.Compare(h, "x")
		require.ErrorIs(t, err, userpassword.ErrMalformedHash, h)
		require.False(t, ok)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	good := []string{"SomeSecurePassword!", "Tr0ub4dor&3", "correcthorsebatterystaple", "xK9#mQ2$vL"}
	for _, p := range good {
		require.NoError(t, userpassword.Validate(p), p)
	}
	bad := map[string]string{
		"short":                    "password must be at least 8 characters",
		strings.Repeat("aB1!", 17): "password must be no more than 64 characters",
		"password":                 "insecure password",
		"aaaaaaaaaaaaaaaaaaaaaa":   "insecure password",
		"12345678901":              "insecure password",
	}
	for p, want := range bad {
		err := userpassword.Validate(p)
		require.Error(t, err, p)
		require.Contains(t, err.Error(), want, p)
	}
}
