package aibridge

import (
	"bytes"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// The upstream request body reads like a bytes.Reader, can be rewound for
// the transport's retry until the round trip returns, and is let go of then.
func TestRequestBody(t *testing.T) {
	t.Parallel()
	payload := bytes.Repeat([]byte(`{"k":"v"}`), 1000)
	rb := &requestBody{b: payload}

	got, err := io.ReadAll(io.LimitReader(rb, 100))
	require.NoError(t, err)
	require.Equal(t, payload[:100], got)
	var rest bytes.Buffer
	n, err := rb.WriteTo(&rest)
	require.NoError(t, err)
	require.EqualValues(t, len(payload)-100, n)
	require.Equal(t, payload[100:], rest.Bytes())
	n2, err := rb.Read(make([]byte, 8))
	require.Zero(t, n2)
	require.ErrorIs(t, err, io.EOF)

	again, err := rb.rewind()
	require.NoError(t, err)
	all, err := io.ReadAll(again)
	require.NoError(t, err)
	require.Equal(t, payload, all, "a rewound body starts over")

	rb.release()
	_, err = rb.rewind()
	require.Error(t, err, "nothing to resend once released")
	n2, err = rb.Read(make([]byte, 8))
	require.Zero(t, n2)
	require.ErrorIs(t, err, io.EOF)
}
