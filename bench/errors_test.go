package main

import (
	"crypto/sha256"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// The S8 sequence has exact, known counts, and every shape meets every
// status (the request count is a multiple of shapes × 7 × 11).
func TestErrSequence(t *testing.T) {
	t.Parallel()
	counts := map[int]int{}
	pairs := map[[2]int]bool{}
	for i := 1; i <= errRequests; i++ {
		counts[errStatus(i)]++
		pairs[[2]int{i % len(errKinds), errStatus(i)}] = true
	}
	n503 := errRequests / errEvery503
	n429 := errRequests/errEvery429 - errRequests/(errEvery429*errEvery503)
	require.Equal(t, map[int]int{http.StatusServiceUnavailable: n503, http.StatusTooManyRequests: n429, http.StatusOK: errRequests - n503 - n429}, counts)
	require.Len(t, pairs, 3*len(errKinds))
}

func TestSameBodies(t *testing.T) {
	t.Parallel()
	a, b := sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b"))
	direct := map[string]map[[32]byte]int{"chat 429": {a: 3}}
	ok, _ := sameBodies(direct, map[string]map[[32]byte]int{"chat 429": {a: 3}})
	require.True(t, ok)
	ok, detail := sameBodies(direct, map[string]map[[32]byte]int{"chat 429": {b: 3}})
	require.False(t, ok, detail)
	ok, _ = sameBodies(direct, map[string]map[[32]byte]int{"chat 429": {a: 2, b: 1}})
	require.False(t, ok)
	ok, _ = sameBodies(direct, map[string]map[[32]byte]int{"chat 429": {a: 3}, "chat 503": {a: 1}})
	require.False(t, ok)
}
