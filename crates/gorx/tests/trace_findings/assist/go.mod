module assistheavy

go 1.22
