// Package sdk holds gantry's public wire types and its Go client. The JSON
// shapes match Coder's codersdk so that Coder's own clients work against
// gantry. This package imports only the standard library and small
// well-known modules, never gantry's internal packages.
package sdk

import (
	"errors"
	"fmt"
	"strings"
)

// Response is the envelope of every API message and error.
type Response struct {
	// Message is a human-readable summary.
	Message string `json:"message"`
	// Detail carries technical detail for debugging.
	Detail string `json:"detail,omitempty"`
	// Validations lists per-field problems of a request body.
	Validations []ValidationError `json:"validations,omitempty"`
}

// ValidationError names one invalid field.
type ValidationError struct {
	Field  string `json:"field" validate:"required"`
	Detail string `json:"detail" validate:"required"`
}

// Error is a non-2xx API response.
type Error struct {
	Response
	statusCode int
	method     string
	url        string
	// Helper is an optional hint for the user, e.g. how to sign in.
	Helper string
}

// NewError builds an Error for tests and clients.
func NewError(status int, r Response) *Error { return &Error{Response: r, statusCode: status} }

// StatusCode returns the HTTP status of the response.
func (e *Error) StatusCode() int { return e.statusCode }

func (e *Error) Error() string {
	var b strings.Builder
	if e.method != "" {
		fmt.Fprintf(&b, "%s %s: ", e.method, e.url)
	}
	fmt.Fprintf(&b, "unexpected status code %d: %s", e.statusCode, e.Message)
	if e.Detail != "" {
		fmt.Fprintf(&b, "\n\tError: %s", e.Detail)
	}
	for _, v := range e.Validations {
		fmt.Fprintf(&b, "\n\t%s: %s", v.Field, v.Detail)
	}
	if e.Helper != "" {
		fmt.Fprintf(&b, "\n%s", e.Helper)
	}
	return b.String()
}

// IsStatus reports whether err is, or wraps, an *Error with the given status.
func IsStatus(err error, status int) bool {
	var e *Error
	return errors.As(err, &e) && e.statusCode == status
}
