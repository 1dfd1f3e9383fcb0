// Package site serves gantry's few HTML pages: the landing page at "/", the
// /cli-auth page that hands a session token to `coder login` / `gantry
// login`, and the OpenAPI document with a small self-contained viewer at
// /swagger. Everything is embedded; nothing is fetched from the internet, so
// the pages satisfy the strict Content-Security-Policy (scripts only from
// 'self').
package site

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strings"
)

//go:embed static
var static embed.FS

var pages = template.Must(template.ParseFS(static, "static/*.html"))

// Options are the values shown on the pages.
type Options struct {
	Version   string
	AccessURL string
}

// Site renders the pages. The templates are executed once, at New.
type Site struct {
	landing, cliAuth, swagger []byte
}

// New renders the pages for opts.
func New(opts Options) (*Site, error) {
	render := func(name string) ([]byte, error) {
		var b bytes.Buffer
		if err := pages.ExecuteTemplate(&b, name, opts); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}
	s := &Site{}
	var err error
	if s.landing, err = render("index.html"); err != nil {
		return nil, err
	}
	if s.cliAuth, err = render("cli-auth.html"); err != nil {
		return nil, err
	}
	if s.swagger, err = render("swagger.html"); err != nil {
		return nil, err
	}
	return s, nil
}

func writeHTML(rw http.ResponseWriter, body []byte) {
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	rw.Header().Set("Cache-Control", "no-cache")
	_, _ = rw.Write(body)
}

// Landing serves "/".
func (s *Site) Landing(rw http.ResponseWriter, _ *http.Request) { writeHTML(rw, s.landing) }

// CLIAuth serves "/cli-auth".
func (s *Site) CLIAuth(rw http.ResponseWriter, _ *http.Request) { writeHTML(rw, s.cliAuth) }

// Asset serves the embedded scripts and styles under /assets/.
func (s *Site) Asset(rw http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/assets/")
	if strings.Contains(name, "/") || (!strings.HasSuffix(name, ".js") && !strings.HasSuffix(name, ".css")) {
		http.NotFound(rw, r)
		return
	}
	b, err := static.ReadFile("static/" + name)
	if err != nil {
		http.NotFound(rw, r)
		return
	}
	ct := "text/javascript; charset=utf-8"
	if strings.HasSuffix(name, ".css") {
		ct = "text/css; charset=utf-8"
	}
	rw.Header().Set("Content-Type", ct)
	rw.Header().Set("Cache-Control", "no-cache")
	_, _ = rw.Write(b)
}

// SwaggerUI serves the OpenAPI viewer page (/swagger/index.html).
func (s *Site) SwaggerUI(rw http.ResponseWriter, _ *http.Request) { writeHTML(rw, s.swagger) }

// Route is one API route: an HTTP method and a path relative to /api/v2
// with chi-style parameters ("/users/{user}").
type Route struct {
	Method string
	Path   string
}

// OpenAPIDocument returns the OpenAPI 3 document of /api/v2: the hand-written
// descriptions in static/openapi.json, completed with a minimal entry for
// every route in routes that they do not describe, so the document never
// omits a route.
func OpenAPIDocument(routes []Route) ([]byte, error) {
	raw, err := static.ReadFile("static/openapi.json")
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("decode openapi.json: %w", err)
	}
	paths, _ := doc["paths"].(map[string]any)
	if paths == nil {
		paths = map[string]any{}
		doc["paths"] = paths
	}
	for _, rt := range routes {
		item, _ := paths[rt.Path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.Path] = item
		}
		m := strings.ToLower(rt.Method)
		if _, ok := item[m]; ok {
			continue
		}
		op := map[string]any{
			"summary":   rt.Method + " " + rt.Path,
			"tags":      []string{"Other"},
			"responses": map[string]any{"default": map[string]any{"description": "See the gantry guide."}},
		}
		var params []any
		for _, seg := range strings.Split(rt.Path, "/") {
			if name, ok := strings.CutPrefix(seg, "{"); ok {
				params = append(params, map[string]any{
					"name": strings.TrimSuffix(name, "}"), "in": "path", "required": true,
					"schema": map[string]any{"type": "string"},
				})
			}
		}
		if params != nil {
			op["parameters"] = params
		}
		item[m] = op
	}
	out, err := json.MarshalIndent(doc, "", " ")
	if err != nil {
		return nil, fmt.Errorf("encode openapi document: %w", err)
	}
	return append(out, '\n'), nil
}
