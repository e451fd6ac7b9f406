module keepalive

go 1.21
