module tracetasks

go 1.22
