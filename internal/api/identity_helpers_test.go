package api_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"gantry/sdk"
)

// requireSDKError asserts err is an *sdk.Error with the status and message
// (and detail, when not empty).
func requireSDKError(t *testing.T, err error, status int, message, detail string) *sdk.Error {
	t.Helper()
	var e *sdk.Error
	require.True(t, errors.As(err, &e), "want *sdk.Error, got %v", err)
	require.Equal(t, status, e.StatusCode(), e.Error())
	require.Equal(t, message, e.Message)
	if detail != "" {
		require.Equal(t, detail, e.Detail)
	}
	return e
}

// rawJSON sends a request and returns the status, headers and decoded body.
func rawJSON(t *testing.T, c *sdk.Client, method, path string, body any) (int, http.Header, []byte) {
	t.Helper()
	resp, err := c.Request(t.Context(), method, path, body)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, b
}

// keyPaths returns the recursive key structure of a JSON document:
// "a", "a.b", "list[].c", ...
func keyPaths(t *testing.T, doc []byte) []string {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(doc, &v))
	set := map[string]bool{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, child := range x {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				set[p] = true
				walk(p, child)
			}
		case []any:
			for _, child := range x {
				walk(prefix+"[]", child)
			}
		}
	}
	walk("", v)
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func reference(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "reference", name))
	require.NoError(t, err)
	return b
}

func requireSameKeys(t *testing.T, refName string, got []byte) {
	t.Helper()
	require.Equal(t, keyPaths(t, reference(t, refName)), keyPaths(t, got), "body: %s", strings.TrimSpace(string(got)))
}

const signedOut = "You are signed out or your session has expired. Please sign in again to continue."
