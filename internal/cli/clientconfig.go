package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/coder/serpent"

	"gantry/sdk"
)

// Environment variables of the client commands.
const (
	envURL          = "GANTRY_URL"
	envSessionToken = "GANTRY_SESSION_TOKEN"
	envConfigDir    = "GANTRY_CONFIG_DIR"
)

// Files in the client config directory.
const (
	urlFile     = "url"
	sessionFile = "session"
)

// clientOptions are the connection options shared by every client command
// (login, logout, whoami, users, tokens, aibridge). Subcommands inherit them
// from their parent.
type clientOptions struct {
	url       string
	token     string
	configDir string
}

func (o *clientOptions) options() serpent.OptionSet {
	return serpent.OptionSet{
		{
			Flag:        "url",
			Env:         envURL,
			Description: "URL of the gantry deployment. Defaults to the URL saved by `gantry login`.",
			Value:       serpent.StringOf(&o.url),
		},
		{
			Flag:        "token",
			Env:         envSessionToken,
			Description: "Session token to authenticate with. Defaults to the token saved by `gantry login`.",
			Value:       serpent.StringOf(&o.token),
		},
		{
			Flag:        "global-config",
			Env:         envConfigDir,
			Description: "Directory where `gantry login` saves the URL and session token. Defaults to <user config dir>/gantry.",
			Value:       serpent.StringOf(&o.configDir),
		},
	}
}

// configStore reads and writes the saved credentials. The directory is
// created with mode 0700 and the files with 0600: the session token is a
// password equivalent.
type configStore struct {
	dir string
}

// store resolves the config directory: --global-config / GANTRY_CONFIG_DIR,
// else the user config directory of the invocation's environment
// ($XDG_CONFIG_HOME or $HOME/.config on Linux) joined with "gantry".
func (o *clientOptions) store(inv *serpent.Invocation) (*configStore, error) {
	if o.configDir != "" {
		return &configStore{dir: o.configDir}, nil
	}
	base := userConfigDir(inv.Environ)
	if base == "" {
		var err error
		if base, err = os.UserConfigDir(); err != nil {
			return nil, fmt.Errorf("find the user config directory (set --global-config): %w", err)
		}
	}
	return &configStore{dir: filepath.Join(base, "gantry")}, nil
}

// userConfigDir mirrors os.UserConfigDir on Unix, but reads the
// invocation's environment so that tests and embedders control it.
func userConfigDir(env serpent.Environ) string {
	if d := env.Get("XDG_CONFIG_HOME"); d != "" && filepath.IsAbs(d) {
		return d
	}
	if h := env.Get("HOME"); h != "" {
		return filepath.Join(h, ".config")
	}
	return ""
}

func (s *configStore) read(name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, name))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func (s *configStore) write(name, value string) error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("create config directory: %w", err)
	}
	// MkdirAll keeps the mode of an existing directory; tighten it.
	if err := os.Chmod(s.dir, 0o700); err != nil {
		return fmt.Errorf("restrict config directory: %w", err)
	}
	path := filepath.Join(s.dir, name)
	// Write a temporary file and rename it, so a reader never sees a partial
	// token and an existing file with a wider mode is replaced.
	tmp, err := os.CreateTemp(s.dir, "."+name+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if _, err := tmp.WriteString(value); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

func (s *configStore) remove(name string) error {
	err := os.Remove(filepath.Join(s.dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// errNotLoggedIn is returned when neither flags, environment nor saved
// config name a deployment.
var errNotLoggedIn = errors.New("you are not logged in: run `gantry login <url>` (or set " + envURL + " and " + envSessionToken + ")")

// deploymentURL returns the URL from --url / GANTRY_URL or the saved config.
func (o *clientOptions) deploymentURL(inv *serpent.Invocation) (*url.URL, error) {
	raw := o.url
	if raw == "" {
		cs, err := o.store(inv)
		if err != nil {
			return nil, err
		}
		raw, err = cs.read(urlFile)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errNotLoggedIn
		}
		if err != nil {
			return nil, fmt.Errorf("read saved url: %w", err)
		}
	}
	return parseDeploymentURL(raw)
}

// client returns an authenticated SDK client: URL and token from flags or
// environment first, then from the saved config.
func (o *clientOptions) client(inv *serpent.Invocation) (*sdk.Client, error) {
	u, err := o.deploymentURL(inv)
	if err != nil {
		return nil, err
	}
	token := o.token
	if token == "" {
		cs, err := o.store(inv)
		if err != nil {
			return nil, err
		}
		token, err = cs.read(sessionFile)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errNotLoggedIn
		}
		if err != nil {
			return nil, fmt.Errorf("read saved session: %w", err)
		}
	}
	c := sdk.New(u)
	c.SessionToken = token
	return c, nil
}

// parseDeploymentURL accepts "host", "host:port" or a full URL. Without a
// scheme it assumes https, except for loopback hosts, which are usually a
// local development server without TLS.
func parseDeploymentURL(raw string) (*url.URL, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, errors.New("the deployment URL is empty")
	}
	if !strings.Contains(raw, "://") {
		scheme := "https"
		host := raw
		if i := strings.IndexAny(host, "/"); i >= 0 {
			host = host[:i]
		}
		if h := hostOnly(host); h == "localhost" || h == "127.0.0.1" || h == "::1" || strings.HasSuffix(h, ".localhost") {
			scheme = "http"
		}
		raw = scheme + "://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parse deployment URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("deployment URL %q: the scheme must be http or https", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("deployment URL %q has no host", raw)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

func hostOnly(hostport string) string {
	if strings.HasPrefix(hostport, "[") {
		if i := strings.Index(hostport, "]"); i > 0 {
			return hostport[1:i]
		}
	}
	if i := strings.LastIndex(hostport, ":"); i >= 0 && strings.Count(hostport, ":") == 1 {
		return hostport[:i]
	}
	return hostport
}
