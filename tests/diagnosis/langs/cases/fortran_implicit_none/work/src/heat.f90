program heat
  use grid, only: dp, linspace
  implicit none
  integer, parameter :: nx = 101, nsteps = 5000
  real(dp), parameter :: alpha = 1.0e-2_dp
  real(dp) :: x(nx), u(nx), unew(nx)
  real(dp) :: dt
  integer :: step, i

  call linspace(0.0_dp, 1.0_dp, x)
  u = 0.0_dp
  u(nx) = 1.0_dp

  dx = x(2) - x(1)
  dt = 0.4_dp * dx * dx / alpha
  do step = 1, nsteps
    do i = 2, nx - 1
      unew(i) = u(i) + alpha * dt / (dx * dx) * (u(i - 1) - 2.0_dp * u(i) + u(i + 1))
    end do
    u(2:nx - 1) = unew(2:nx - 1)
  end do
  print '(a, f10.6)', 'u(mid) = ', u((nx + 1) / 2)
end program heat
