package app_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gantry/internal/apitest"
	"gantry/internal/app"
	"gantry/internal/cli"
	"gantry/sdk"
)

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// TestServerCommandEndToEnd runs `gantry server` the way the binary does
// (cli.Main with arguments), on a free port with a temporary cache directory
// holding the SQLite database, and stops it with SIGINT.
//
// Not parallel on purpose: the SIGINT goes to the whole test process, and
// parallel tests only start after the sequential ones have finished.
func TestServerCommandEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end server start")
	}
	addr := freePort(t)
	cacheDir := t.TempDir()
	var stdout, stderr apitest.LogBuffer
	exit := make(chan int, 1)
	go func() {
		exit <- cli.Main([]string{"server", "--http-address", addr, "--cache-dir", cacheDir},
			[]string{"HOME=" + t.TempDir()}, strings.NewReader(""), &stdout, &stderr)
	}()

	base := "http://" + addr
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := httpGet(t, client, base+"/healthz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				require.Equal(t, "OK", string(body))
				break
			}
		}
		select {
		case code := <-exit:
			t.Fatalf("server exited with %d before serving\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "server not healthy within 30s\nstderr:\n%s", stderr.String())
		time.Sleep(20 * time.Millisecond)
	}

	resp, err := httpGet(t, client, base+"/api/v2/buildinfo")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
	var bi sdk.BuildInfoResponse
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&bi))
	resp.Body.Close()
	require.Equal(t, base, bi.DashboardURL)
	require.Equal(t, resp.Header.Get("X-Coder-Build-Version"), bi.Version)
	require.NotEmpty(t, bi.DeploymentID)

	out := stdout.String()
	require.Contains(t, out, "Access URL: "+base)
	require.Contains(t, out, "gantry login "+base)
	require.Contains(t, out, "create-admin-user")
	require.FileExists(t, filepath.Join(cacheDir, app.SQLiteFile))

	// SIGINT drains and exits 0.
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGINT))
	select {
	case code := <-exit:
		require.Equal(t, 0, code, "stderr:\n%s", stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("server did not stop after SIGINT")
	}
	require.Contains(t, stderr.String(), "shutdown complete")
	_, err = httpGet(t, client, base+"/healthz")
	require.Error(t, err, "nothing listens after shutdown")
}
