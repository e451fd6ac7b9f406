module assiststartup
go 1.21
