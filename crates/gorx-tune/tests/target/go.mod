module gorx.dev/tune-target

go 1.19
