package authn_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gantry/internal/authn"
)

func TestLoginThrottlePolicy(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	th := authn.NewLoginThrottle(authn.ThrottleOptions{
		AccountLimit: 3, AddressLimit: 10, Lockout: time.Minute, MaxLockout: 4 * time.Minute,
		Window: 15 * time.Minute, Now: clock.Now,
	})
	allowed := func(account, addr string) (time.Duration, bool) { return th.Allow(account, addr) }

	for range 2 {
		th.Failure("a@example.com", "1.1.1.1")
		_, ok := allowed("a@example.com", "1.1.1.1")
		require.True(t, ok)
	}
	th.Failure("A@example.com", "2.2.2.2") // case-insensitive, any address
	wait, ok := allowed("a@example.com", "3.3.3.3")
	require.False(t, ok)
	require.Equal(t, time.Minute, wait)

	// Each further failure doubles the lockout, up to the maximum.
	th.Failure("a@example.com", "1.1.1.1")
	wait, _ = allowed("a@example.com", "1.1.1.1")
	require.Equal(t, 2*time.Minute, wait)
	for range 5 {
		th.Failure("a@example.com", "1.1.1.1")
	}
	wait, _ = allowed("a@example.com", "1.1.1.1")
	require.Equal(t, 4*time.Minute, wait)

	// Lockouts end.
	clock.Advance(4*time.Minute + time.Second)
	_, ok = allowed("a@example.com", "1.1.1.1")
	require.True(t, ok)

	// Success clears the account.
	th.Success("a@example.com")
	th.Failure("a@example.com", "9.9.9.9")
	_, ok = allowed("a@example.com", "9.9.9.9")
	require.True(t, ok)

	// Failures older than the window are forgotten.
	th.Failure("b@example.com", "8.8.8.8")
	th.Failure("b@example.com", "8.8.8.8")
	clock.Advance(16 * time.Minute)
	th.Failure("b@example.com", "8.8.8.8")
	_, ok = allowed("b@example.com", "8.8.8.8")
	require.True(t, ok)

	// The address limit spans accounts.
	for i := range 10 {
		th.Failure(fmt.Sprintf("spray%d@example.com", i), "6.6.6.6")
	}
	_, ok = allowed("fresh@example.com", "6.6.6.6")
	require.False(t, ok)
	_, ok = allowed("fresh@example.com", "7.7.7.7")
	require.True(t, ok)
}

func TestLoginThrottleBoundedMemory(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	th := authn.NewLoginThrottle(authn.ThrottleOptions{MaxEntries: 100, AccountLimit: 1000, AddressLimit: 1000, Now: clock.Now})
	for i := range 10000 {
		th.Failure(fmt.Sprintf("u%d@example.com", i), fmt.Sprintf("10.0.%d.%d", i/256, i%256))
	}
	require.LessOrEqual(t, th.Entries(), 200)
}
