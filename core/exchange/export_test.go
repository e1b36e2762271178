package exchange

// Sweep runs one expiry sweep now, for tests that drive a fake clock.
func (x *Exchange) Sweep() int { return x.sweep() }
