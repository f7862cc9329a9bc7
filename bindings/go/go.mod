module github.com/drift-vector/drift/bindings/go

go 1.21
