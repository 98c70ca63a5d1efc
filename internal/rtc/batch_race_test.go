//go:build race

package rtc

const batchRace = true
