package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// SessionTokenHeader carries the API token on every request.
const SessionTokenHeader = "Coder-Session-Token"

// BuildVersionHeader is set by the server on every response.
const BuildVersionHeader = "X-Coder-Build-Version"

// Client talks to a gantry (or Coder) deployment.
type Client struct {
	URL          *url.URL
	HTTPClient   *http.Client
	SessionToken string
}

// New returns a client for the deployment at serverURL.
func New(serverURL *url.URL) *Client {
	return &Client{URL: serverURL, HTTPClient: &http.Client{}}
}

// Request sends a request with an optional JSON body and returns the raw
// response; the caller closes its body.
func (c *Client) Request(ctx context.Context, method, path string, body any) (*http.Response, error) {
	u, err := c.URL.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("parse url: %w", err)
	}
	var rd io.Reader
	if body != nil {
		buf, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode body: %w", err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("new request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set(SessionTokenHeader, c.SessionToken)
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("do request: %w", err)
	}
	return resp, nil
}

// do sends a request and decodes a JSON response with the wanted status into
// out (nil to discard).
func (c *Client) do(ctx context.Context, method, path string, body any, wantStatus int, out any) error {
	resp, err := c.Request(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != wantStatus {
		return ReadBodyAsError(resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	return nil
}

// ReadBodyAsError turns a non-2xx response into an *Error.
func ReadBodyAsError(resp *http.Response) error {
	e := &Error{statusCode: resp.StatusCode}
	if resp.Request != nil {
		e.method = resp.Request.Method
		e.url = resp.Request.URL.String()
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch {
	case len(bytes.TrimSpace(raw)) == 0:
		e.Message = "empty response body"
	case mt != "application/json":
		e.Message = fmt.Sprintf("unexpected non-JSON response %q", resp.Header.Get("Content-Type"))
		e.Detail = string(raw[:min(len(raw), 2048)])
	default:
		if err := json.Unmarshal(raw, &e.Response); err != nil {
			e.Message = "decode error response: " + err.Error()
		} else if strings.TrimSpace(e.Message) == "" {
			e.Message = fmt.Sprintf("unexpected status code %d, response has no message", resp.StatusCode)
		}
	}
	if resp.StatusCode == http.StatusUnauthorized {
		e.Helper = "Try logging in using 'gantry login <url>'."
	}
	return e
}
