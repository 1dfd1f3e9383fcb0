package httpmw_test

import (
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"gantry/internal/httpmw"
)

func TestRealIP(t *testing.T) {
	t.Parallel()
	echo := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		require.NoError(t, err)
		_, _ = io.WriteString(rw, host)
	})
	client := func(t *testing.T, base string, headers map[string]string) string {
		req := newReq(t, http.MethodGet, base+"/")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		_, body := do(t, req)
		return body
	}

	trustedLoopback, err := httpmw.RealIP(httpmw.RealIPOptions{
		Headers: []string{"x-forwarded-for", "X-Real-IP"},
		Origins: []string{"127.0.0.0/8", "10.0.0.0/8"},
	})
	require.NoError(t, err)
	base := serve(t, trustedLoopback(echo))
	// The rightmost address that is not a trusted proxy is the client.
	require.Equal(t, "203.0.113.7", client(t, base, map[string]string{"X-Forwarded-For": "198.51.100.1, 203.0.113.7, 10.1.2.3"}))
	require.Equal(t, "2001:db8::1", client(t, base, map[string]string{"X-Real-IP": "2001:db8::1"}))
	require.Equal(t, "127.0.0.1", client(t, base, nil))
	require.Equal(t, "127.0.0.1", client(t, base, map[string]string{"X-Forwarded-For": "not-an-ip"}))

	// Headers from an untrusted peer are ignored.
	untrusted, err := httpmw.RealIP(httpmw.RealIPOptions{Headers: []string{"X-Forwarded-For"}, Origins: []string{"192.0.2.0/24"}})
	require.NoError(t, err)
	base = serve(t, untrusted(echo))
	require.Equal(t, "127.0.0.1", client(t, base, map[string]string{"X-Forwarded-For": "203.0.113.7"}))

	_, err = httpmw.RealIP(httpmw.RealIPOptions{Headers: []string{"X-Forwarded-For"}, Origins: []string{"nonsense"}})
	require.ErrorContains(t, err, "nonsense")
}
