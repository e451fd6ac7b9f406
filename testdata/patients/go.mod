module gorx.dev/patients

go 1.19
