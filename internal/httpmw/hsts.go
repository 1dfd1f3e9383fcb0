package httpmw

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// HSTSValue renders the Strict-Transport-Security header for
// --strict-transport-security (max-age seconds; 0 or less disables it) and
// --strict-transport-security-options ("includeSubDomains", "preload").
// It returns "" when HSTS is off.
func HSTSValue(maxAge int64, options []string) (string, error) {
	if maxAge <= 0 {
		return "", nil
	}
	v := "max-age=" + strconv.FormatInt(maxAge, 10)
	for _, o := range options {
		switch {
		case strings.EqualFold(o, "includeSubDomains"):
			v += "; includeSubDomains"
		case strings.EqualFold(o, "preload"):
			v += "; preload"
		default:
			return "", fmt.Errorf("strict-transport-security option %q is not valid: use includeSubDomains and/or preload", o)
		}
	}
	return v, nil
}

// HSTS sets Strict-Transport-Security to value on every response; an empty
// value disables the middleware.
func HSTS(value string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if value == "" {
			return next
		}
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			rw.Header().Set("Strict-Transport-Security", value)
			next.ServeHTTP(rw, r)
		})
	}
}
