package aibridge

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// errorShape says which provider's error format a response uses.
type errorShape int

const (
	shapeOpenAI errorShape = iota
	shapeAnthropic
)

func shapeOf(t ProviderType) errorShape {
	if t == TypeAnthropic {
		return shapeAnthropic
	}
	return shapeOpenAI
}

// gwError is an error the gateway answers itself, in the provider's shape so
// that SDKs map it to their own error types and back off as they would
// against the real provider.
type gwError struct {
	status int
	// anthropicType is the Anthropic error.type; openAIType/openAICode the
	// OpenAI error.type and error.code.
	anthropicType string
	openAIType    string
	openAICode    string
	message       string
	retryAfter    int // seconds; 0 = no header
}

func errBadRequest(msg string) *gwError {
	return &gwError{status: http.StatusBadRequest, anthropicType: "invalid_request_error", openAIType: "invalid_request_error", openAICode: "invalid_request", message: msg}
}

func errNotFound(msg string) *gwError {
	return &gwError{status: http.StatusNotFound, anthropicType: "not_found_error", openAIType: "invalid_request_error", openAICode: "not_found", message: msg}
}

func errNoAuth() *gwError {
	return &gwError{status: http.StatusBadRequest, anthropicType: "authentication_error", openAIType: "invalid_request_error", openAICode: "invalid_api_key", message: "no authentication key provided"}
}

func errUnauthorized() *gwError {
	return &gwError{status: http.StatusForbidden, anthropicType: "permission_error", openAIType: "invalid_request_error", openAICode: "invalid_api_key", message: "unauthorized"}
}

func errForbidden(msg string) *gwError {
	return &gwError{status: http.StatusForbidden, anthropicType: "permission_error", openAIType: "invalid_request_error", openAICode: "forbidden", message: msg}
}

func errTooLarge(limit int64) *gwError {
	return &gwError{status: http.StatusRequestEntityTooLarge, anthropicType: "request_too_large", openAIType: "invalid_request_error", openAICode: "request_too_large", message: "request body exceeds " + strconv.FormatInt(limit, 10) + " bytes"}
}

func errUnavailable(msg string, retryAfter int) *gwError {
	return &gwError{status: http.StatusServiceUnavailable, anthropicType: "overloaded_error", openAIType: "server_error", openAICode: "service_unavailable", message: msg, retryAfter: retryAfter}
}

func errNotImplemented(msg string) *gwError {
	return &gwError{status: http.StatusNotImplemented, anthropicType: "api_error", openAIType: "server_error", openAICode: "not_implemented", message: msg}
}

func errBadGateway(msg string) *gwError {
	return &gwError{status: http.StatusBadGateway, anthropicType: "api_error", openAIType: "server_error", openAICode: "bad_gateway", message: msg}
}

func errGatewayTimeout(msg string) *gwError {
	return &gwError{status: http.StatusGatewayTimeout, anthropicType: "timeout_error", openAIType: "server_error", openAICode: "timeout", message: msg}
}

func errInternal() *gwError {
	return &gwError{status: http.StatusInternalServerError, anthropicType: "api_error", openAIType: "server_error", openAICode: "internal_error", message: "internal gateway error"}
}

type anthropicError struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

type openAIError struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    string  `json:"code"`
	} `json:"error"`
}

func (e *gwError) body(s errorShape) []byte {
	var b []byte
	if s == shapeAnthropic {
		var v anthropicError
		v.Type, v.Error.Type, v.Error.Message = "error", e.anthropicType, e.message
		b, _ = json.Marshal(v)
	} else {
		var v openAIError
		v.Error.Message, v.Error.Type, v.Error.Code = e.message, e.openAIType, e.openAICode
		b, _ = json.Marshal(v)
	}
	return b
}

// write answers the error as a complete JSON response.
func (e *gwError) write(rw http.ResponseWriter, s errorShape) {
	h := rw.Header()
	h.Set("Content-Type", "application/json")
	if e.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	if e.status == http.StatusTooManyRequests || e.status == http.StatusServiceUnavailable {
		// Tell the official SDKs they may retry.
		h.Set("X-Should-Retry", "true")
	}
	rw.WriteHeader(e.status)
	_, _ = rw.Write(e.body(s))
}

// sseEvent renders the error as an SSE event for a stream that has already
// started, in the format of the API being relayed.
func (e *gwError) sseEvent(api apiKind) []byte {
	var out []byte
	switch api {
	case apiMessages:
		out = append(out, "event: error\ndata: "...)
		out = append(out, e.body(shapeAnthropic)...)
	case apiResponses:
		b, _ := json.Marshal(struct {
			Type    string  `json:"type"`
			Code    string  `json:"code"`
			Message string  `json:"message"`
			Param   *string `json:"param"`
		}{"error", e.openAICode, e.message, nil})
		out = append(out, "event: error\ndata: "...)
		out = append(out, b...)
	default:
		out = append(out, "data: "...)
		out = append(out, e.body(shapeOpenAI)...)
	}
	return append(out, '\n', '\n')
}
