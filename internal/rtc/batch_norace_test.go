//go:build !race

package rtc

const batchRace = false
