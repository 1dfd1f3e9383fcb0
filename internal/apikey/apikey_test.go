package apikey_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"gantry/internal/apikey"
)

func TestGenerate(t *testing.T) {
	t.Parallel()
	shape := regexp.MustCompile(`^[A-Za-z0-9]{10}-[A-Za-z0-9]{22}$`)
	seen := make(map[string]bool)
	for range 200 {
		tok, err := apikey.Generate()
		require.NoError(t, err)
		require.Regexp(t, shape, tok.String())
		require.Len(t, tok.String(), apikey.TokenLength)
		require.False(t, seen[tok.ID], "duplicate id")
		seen[tok.ID] = true
		id, secret, err := apikey.Split(tok.String())
		require.NoError(t, err)
		require.Equal(t, tok.ID, id)
		require.Equal(t, tok.Secret, secret)
		require.True(t, apikey.CompareSecret(tok.HashedSecret, secret))
		require.False(t, apikey.CompareSecret(tok.HashedSecret, strings.Repeat("a", apikey.SecretLength)))
		require.NotContains(t, string(tok.HashedSecret), tok.Secret)
	}
}

func TestSplitErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, token, want string
	}{
		{"Empty", "", "incorrect amount of API key parts, expected 2 got 1"},
		{"NoDash", strings.Repeat("a", 33), "incorrect amount of API key parts, expected 2 got 1"},
		{"TwoDashes", "aaaaaaaaaa-bbbbbbbbbb-ccccccccccc", "incorrect amount of API key parts, expected 2 got 3"},
		{"ShortID", "aaaa-" + strings.Repeat("b", 22), "invalid API key ID length, expected 10 got 4"},
		{"LongID", strings.Repeat("a", 11) + "-" + strings.Repeat("b", 22), "invalid API key ID length, expected 10 got 11"},
		{"ShortSecret", strings.Repeat("a", 10) + "-bbb", "invalid API key secret length, expected 22 got 3"},
		{"LongSecret", strings.Repeat("a", 10) + "-" + strings.Repeat("b", 30), "invalid API key secret length, expected 22 got 30"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := apikey.Split(tc.token)
			require.EqualError(t, err, tc.want)
		})
	}
}

func FuzzSplit(f *testing.F) {
	f.Add("aaaaaaaaaa-bbbbbbbbbbbbbbbbbbbbbb")
	f.Add("-")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		id, secret, err := apikey.Split(s)
		if err != nil {
			return
		}
		if len(id) != apikey.IDLength || len(secret) != apikey.SecretLength || id+"-"+secret != s {
			t.Fatalf("Split(%q) = %q, %q", s, id, secret)
		}
	})
}
