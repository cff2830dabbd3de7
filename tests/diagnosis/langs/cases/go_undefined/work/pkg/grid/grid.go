// Package grid holds a 2-D scalar field on a regular mesh.
package grid

import "math"

// Field is an nx-by-ny field stored row by row.
type Field struct {
	NX, NY int
	Data   []float64
}

// New returns a zero field.
func New(nx, ny int) *Field {
	return &Field{NX: nx, NY: ny, Data: make([]float64, nx*ny)}
}

// At returns the value at (i, j).
func (f *Field) At(i, j int) float64 {
	return f.Data[j*f.NX+i]
}

// Bilinear interpolates at fractional grid coordinates (x, y), clamped to the mesh.
func (f *Field) Bilinear(x, y float64) float64 {
	x = math.Max(0, math.Min(x, float64(f.NX-1)))
	y = math.Max(0, math.Min(y, float64(f.NY-1)))
	i0, j0 := int(x), int(y)
	i1, j1 := minInt(i0+1, f.NX-1), minInt(j0+1, f.NY-1)
	tx, ty := x-float64(i0), y-float64(j0)
	top := (1-tx)*f.At(i0, j0) + tx*f.At(i1, j0)
	bottom := (1-tx)*f.At(i0, j1) + tx*f.At(i1, j1)
	return (1-ty)*top + ty*bottom
}
