module nflbet.dev/testenv/images

go 1.26.0
